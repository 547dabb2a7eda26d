/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_config.c - the configuration file (daemon/config.c cfg_parse()):
 * YAML or JSON text, through libyaml and dray's key table. Invariant: a
 * refused file says why.
 */
#include "daemon/config.h"
#include "tests/fuzz/fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct err err = ERR_INIT;
	struct cfg *cfg = cfg_parse((const char *)data, size, "fuzz", &err);

	if (!cfg)
		fuzz_check(err.code != ERR_OK && err.msg[0]);
	cfg_free(cfg);
	return 0;
}
