/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_userprefs.c - stars and bookmarks (search/userprefs.h): toggles,
 * counts across users, persistence across a reopen, a crash between the
 * temporary file and the rename leaving the old file (and the temporary
 * removed once an hour old), the bounds, a
 * damaged file left alone, and two instances on one tree seeing each
 * other's changes once they re-check (listing the directory only when
 * it changed), and concurrent toggles by two instances losing none.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "testlib.h"

#include "search/userprefs.h"

/* While it is missing, a toggle holds before its rename (main()). */
static char release[96];

struct fx {
	char root[64];
	char dir[128]; /* root/.dray/userprefs */
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	if (!f || test_mkdtemp(f->root, sizeof(f->root), "userprefs") < 0)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "%s/.dray/userprefs", f->root);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	test_rm_tree(f->root);
	free(f);
	return 0;
}

static struct userprefs *open_up(const struct fx *f,
                                 const struct userprefs_opts *o)
{
	struct err err = ERR_INIT;
	struct userprefs *up = userprefs_open(f->root, o, &err);

	if (!up)
		fail_msg("userprefs_open: %s", err.msg);
	return up;
}

static bool toggle(struct userprefs *up, const char *user,
                   enum userprefs_kind k, const char *repo)
{
	struct err err = ERR_INIT;
	bool on = false;

	if (userprefs_toggle(up, user, k, repo, &on, &err) < 0)
		fail_msg("toggle %s %s: %s", user, repo, err.msg);
	return on;
}

/* The list as "a,b,c". */
static void list_is(struct userprefs *up, const char *user,
                    enum userprefs_kind k, const char *want)
{
	struct err err = ERR_INIT;
	json_t *l = userprefs_list(up, user, k, &err), *v;
	char got[1024] = "";
	size_t i;

	assert_non_null(l);
	json_array_foreach(l, i, v)
	{
		if (i)
			strcat(got, ",");
		strcat(got, json_string_value(v));
	}
	json_decref(l);
	assert_string_equal(got, want);
}

static void test_toggle_and_reopen(void **state)
{
	struct fx *f = *state;
	struct userprefs *up = open_up(f, NULL);
	json_t *sum = json_object();
	char path[256];

	list_is(up, "alice", USERPREFS_STAR, "");
	assert_true(toggle(up, "alice", USERPREFS_STAR, "pub/b"));
	assert_true(toggle(up, "alice", USERPREFS_STAR, "pub/a"));
	assert_true(toggle(up, "alice", USERPREFS_BOOKMARK, "pub/a"));
	assert_true(toggle(up, "bob", USERPREFS_STAR, "pub/a"));
	/* A name that is no file name stays inside the directory. */
	assert_true(toggle(up, "../CN=x,O=y", USERPREFS_STAR, "pub/b"));
	list_is(up, "alice", USERPREFS_STAR, "pub/a,pub/b");
	list_is(up, "alice", USERPREFS_BOOKMARK, "pub/a");
	list_is(up, NULL, USERPREFS_STAR, "");
	assert_int_equal(userprefs_stars(up, "pub/a"), 2);
	assert_int_equal(userprefs_stars(up, "pub/b"), 2);
	assert_true(userprefs_has(up, "bob", USERPREFS_STAR, "pub/a"));
	assert_false(userprefs_has(up, "bob", USERPREFS_BOOKMARK, "pub/a"));
	assert_false(userprefs_has(up, NULL, USERPREFS_STAR, "pub/a"));
	/* Toggling again undoes. */
	assert_false(toggle(up, "bob", USERPREFS_STAR, "pub/a"));
	assert_int_equal(userprefs_stars(up, "pub/a"), 1);
	assert_int_equal(userprefs_summary(up, "alice", "pub/a", sum), 0);
	assert_int_equal(json_integer_value(json_object_get(sum, "StarCount")),
	                 1);
	assert_true(json_is_true(json_object_get(sum, "IsStarred")));
	assert_true(json_is_true(json_object_get(sum, "IsBookmarked")));
	assert_int_equal(userprefs_summary(up, NULL, "pub/b", sum), 0);
	assert_int_equal(json_integer_value(json_object_get(sum, "StarCount")),
	                 2);
	assert_true(json_is_false(json_object_get(sum, "IsStarred")));
	json_decref(sum);
	userprefs_close(up);

	snprintf(path, sizeof(path), "%s/%%2E.%%2FCN%%3Dx%%2CO%%3Dy.json",
	         f->dir);
	assert_int_equal(access(path, F_OK), 0);
	up = open_up(f, NULL);
	list_is(up, "alice", USERPREFS_STAR, "pub/a,pub/b");
	list_is(up, "alice", USERPREFS_BOOKMARK, "pub/a");
	list_is(up, "bob", USERPREFS_STAR, "");
	list_is(up, "../CN=x,O=y", USERPREFS_STAR, "pub/b");
	assert_int_equal(userprefs_stars(up, "pub/a"), 1);
	assert_int_equal(userprefs_stars(up, "pub/b"), 2);
	userprefs_close(up);
}

/* Is there a temporary file (fs_write_temp's atomic.*) in @dir? */
static bool has_temp(const char *dir)
{
	struct dirent *de;
	bool found = false;
	DIR *d = opendir(dir);

	while (d && (de = readdir(d)))
		found |= !strncmp(de->d_name, "atomic.", 7);
	if (d)
		closedir(d);
	return found;
}

/* Make the temporary files in @dir @secs seconds old. */
static void age_temps(const char *dir, time_t secs)
{
	struct timespec t[2] = {{.tv_sec = time(NULL) - secs},
	                        {.tv_sec = time(NULL) - secs}};
	struct dirent *de;
	DIR *d = opendir(dir);

	assert_non_null(d);
	while ((de = readdir(d)))
		if (!strncmp(de->d_name, "atomic.", 7))
			assert_int_equal(utimensat(dirfd(d), de->d_name, t, 0),
			                 0);
	closedir(d);
}

static void test_crash_before_rename(void **state)
{
	const struct timespec tick = {.tv_nsec = 10 * 1000 * 1000};
	struct fx *f = *state;
	struct userprefs *up = open_up(f, NULL);
	pid_t pid;
	int status;

	assert_true(toggle(up, "alice", USERPREFS_STAR, "pub/a"));
	userprefs_close(up);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct err err = ERR_INIT;

		/* Held after the temporary file is written, before rename. */
		unlink(release);
		up = userprefs_open(f->root, NULL, &err);
		if (up && userprefs_toggle(up, "alice", USERPREFS_STAR, "pub/b",
		                           NULL, &err) == 0)
			_exit(0); /* not held: the test fails */
		_exit(3);
	}
	/* Wait for the event (the temporary file), then crash the writer. */
	while (!has_temp(f->dir) && waitpid(pid, &status, WNOHANG) == 0)
		nanosleep(&tick, NULL);
	assert_true(has_temp(f->dir));
	kill(pid, SIGKILL);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status));
	fclose(fopen(release, "w"));

	up = open_up(f, NULL);
	list_is(up, "alice", USERPREFS_STAR, "pub/a");
	assert_int_equal(userprefs_stars(up, "pub/b"), 0);
	/* And it goes on from the old file. */
	assert_true(toggle(up, "alice", USERPREFS_STAR, "pub/c"));
	list_is(up, "alice", USERPREFS_STAR, "pub/a,pub/c");
	userprefs_close(up);
	/* The temporary stays while it may be another node's write under
	   way; an hour later an open removes it. */
	up = open_up(f, NULL);
	userprefs_close(up);
	assert_true(has_temp(f->dir));
	age_temps(f->dir, 7200);
	up = open_up(f, NULL);
	userprefs_close(up);
	assert_false(has_temp(f->dir));
}

static void test_bounds(void **state)
{
	struct fx *f = *state;
	struct userprefs_opts o = {.max_users = 2, .max_repos = 2};
	struct userprefs *up = open_up(f, &o);
	struct err err = ERR_INIT;
	char user[300];

	assert_true(toggle(up, "alice", USERPREFS_STAR, "r1"));
	assert_true(toggle(up, "alice", USERPREFS_STAR, "r2"));
	assert_int_equal(
		userprefs_toggle(up, "alice", USERPREFS_STAR, "r3", NULL, &err),
		-1);
	assert_int_equal(err.code, ERR_TOO_LARGE);
	assert_non_null(strstr(err.msg, "2 repositories starred"));
	/* The other list has room of its own; undoing is always possible. */
	assert_true(toggle(up, "alice", USERPREFS_BOOKMARK, "r3"));
	assert_false(toggle(up, "alice", USERPREFS_STAR, "r2"));
	assert_true(toggle(up, "bob", USERPREFS_STAR, "r1"));
	err = ERR_INIT;
	assert_int_equal(
		userprefs_toggle(up, "carol", USERPREFS_STAR, "r1", NULL, &err),
		-1);
	assert_int_equal(err.code, ERR_TOO_LARGE);
	assert_non_null(strstr(err.msg, "2 users"));
	memset(user, 'u', sizeof(user) - 1);
	user[sizeof(user) - 1] = '\0';
	err = ERR_INIT;
	assert_int_equal(
		userprefs_toggle(up, user, USERPREFS_STAR, "r1", NULL, &err),
		-1);
	assert_int_equal(err.code, ERR_TOO_LARGE);
	err = ERR_INIT;
	assert_int_equal(
		userprefs_toggle(up, "", USERPREFS_STAR, "r1", NULL, &err), -1);
	assert_int_equal(err.code, ERR_INVALID);
	err = ERR_INIT;
	assert_int_equal(
		userprefs_toggle(up, "alice", USERPREFS_STAR, "", NULL, &err),
		-1);
	assert_int_equal(err.code, ERR_INVALID);
	userprefs_close(up);

	/* A file may not grow past max_file. */
	o = (struct userprefs_opts){.max_file = 60};
	up = open_up(f, &o);
	assert_true(toggle(up, "bob", USERPREFS_STAR, "a-longer-name"));
	err = ERR_INIT;
	assert_int_equal(userprefs_toggle(up, "bob", USERPREFS_BOOKMARK,
	                                  "another-longer-name", NULL, &err),
	                 -1);
	assert_int_equal(err.code, ERR_TOO_LARGE);
	assert_non_null(strstr(err.msg, "larger than 60 bytes"));
	list_is(up, "bob", USERPREFS_BOOKMARK, "");
	userprefs_close(up);
}

static void test_damaged_file(void **state)
{
	struct fx *f = *state;
	struct userprefs *up = open_up(f, NULL);
	struct err err = ERR_INIT;
	char path[256], *text = NULL;
	size_t len;
	FILE *fp;

	assert_true(toggle(up, "bob", USERPREFS_STAR, "r1"));
	snprintf(path, sizeof(path), "%s/alice.json", f->dir);
	fp = fopen(path, "w");
	assert_non_null(fp);
	fputs("{\"starred\": 7", fp);
	fclose(fp);
	/* Refused, and the file is not overwritten. */
	assert_int_equal(
		userprefs_toggle(up, "alice", USERPREFS_STAR, "r1", NULL, &err),
		-1);
	assert_int_equal(err.code, ERR_IO);
	assert_non_null(strstr(err.msg, "damaged"));
	assert_int_equal(fs_read_file(path, 100, &text, &len, &err), 0);
	assert_string_equal(text, "{\"starred\": 7");
	free(text);
	userprefs_close(up);
	/* A reopen leaves it out and keeps the rest. */
	up = open_up(f, NULL);
	list_is(up, "alice", USERPREFS_STAR, "");
	assert_int_equal(userprefs_stars(up, "r1"), 1);
	userprefs_close(up);
}

/* Make @path's mtime @secs seconds old. */
static void set_mtime(const char *path, time_t secs)
{
	struct timespec t[2] = {{.tv_sec = time(NULL) - secs},
	                        {.tv_sec = time(NULL) - secs}};

	assert_int_equal(utimensat(AT_FDCWD, path, t, 0), 0);
}

/* Overwrite @name in the preferences directory in place. */
static void write_file(const struct fx *f, const char *name, const char *text)
{
	char path[256];
	FILE *fp;

	snprintf(path, sizeof(path), "%s/%s", f->dir, name);
	fp = fopen(path, "r+");
	assert_non_null(fp);
	assert_int_equal(ftruncate(fileno(fp), 0), 0);
	fputs(text, fp);
	fclose(fp);
}

static void test_two_instances(void **state)
{
	struct fx *f = *state;
	struct userprefs_opts now = {.recheck_ms = 0};
	struct userprefs_opts never = {.recheck_ms = UINT64_MAX / 2};
	struct userprefs *a = open_up(f, &now), *b = open_up(f, &now);
	struct userprefs *c = open_up(f, &never);

	/* Another node's toggle shows once the reader re-checks. */
	assert_true(toggle(a, "alice", USERPREFS_STAR, "pub/x"));
	assert_true(userprefs_has(b, "alice", USERPREFS_STAR, "pub/x"));
	assert_int_equal(userprefs_stars(b, "pub/x"), 1);
	list_is(b, "alice", USERPREFS_STAR, "pub/x");
	/* A toggle reads the file under the lock: nothing is lost. */
	assert_true(toggle(b, "alice", USERPREFS_BOOKMARK, "pub/y"));
	assert_true(toggle(a, "alice", USERPREFS_STAR, "pub/z"));
	list_is(b, "alice", USERPREFS_STAR, "pub/x,pub/z");
	list_is(a, "alice", USERPREFS_BOOKMARK, "pub/y");
	assert_true(toggle(b, "bob", USERPREFS_STAR, "pub/x"));
	assert_int_equal(userprefs_stars(a, "pub/x"), 2);
	assert_false(toggle(a, "bob", USERPREFS_STAR, "pub/x"));
	assert_int_equal(userprefs_stars(b, "pub/x"), 1);
	/*
	 * A re-check lists the directory only when its mtime changed (every
	 * toggle renames into it) or is recent: an old, unchanged directory
	 * costs one stat, and a file changed in place goes unseen until the
	 * directory changes (or a minute passed).
	 */
	assert_true(toggle(a, "alice", USERPREFS_STAR, "pub/w"));
	set_mtime(f->dir, 60);
	assert_true(userprefs_has(b, "alice", USERPREFS_STAR, "pub/w"));
	write_file(f, "alice.json", "{\"starred\": []}");
	set_mtime(f->dir, 60);
	assert_true(userprefs_has(b, "alice", USERPREFS_STAR, "pub/w"));
	assert_true(toggle(a, "carol", USERPREFS_STAR, "pub/w"));
	assert_false(userprefs_has(b, "alice", USERPREFS_STAR, "pub/w"));
	assert_int_equal(userprefs_stars(b, "pub/w"), 1);
	/* Until it re-checks, a reader answers from what it holds. */
	assert_int_equal(userprefs_stars(c, "pub/x"), 0);
	list_is(c, "alice", USERPREFS_STAR, "");
	userprefs_close(a);
	userprefs_close(b);
	userprefs_close(c);
}

struct racer {
	struct userprefs *up; /* its instance (a node) */
	int id;               /* which racer: its repositories' names */
};

static void *race(void *arg)
{
	struct racer *r = arg;
	char repo[32];

	for (int i = 0; i < 20; i++) {
		struct err err = ERR_INIT;

		snprintf(repo, sizeof(repo), "r%d/%02d", r->id, i);
		if (userprefs_toggle(r->up, "alice", USERPREFS_STAR, repo, NULL,
		                     &err) < 0)
			return (void *)1;
	}
	return NULL;
}

/*
 * Two instances (nodes), two threads each, toggling for one user at
 * once: each toggle reads the file under the user's lock across
 * instances, so none is lost.
 */
static void test_concurrent_toggles(void **state)
{
	struct fx *f = *state;
	struct userprefs_opts now = {.recheck_ms = 0};
	struct userprefs *a = open_up(f, &now), *b = open_up(f, &now);
	struct racer r[4];
	pthread_t t[4];
	json_t *l;
	struct err err = ERR_INIT;

	for (int i = 0; i < 4; i++) {
		r[i] = (struct racer){.up = i % 2 ? b : a, .id = i};
		assert_int_equal(pthread_create(&t[i], NULL, race, &r[i]), 0);
	}
	for (int i = 0; i < 4; i++) {
		void *rc;

		assert_int_equal(pthread_join(t[i], &rc), 0);
		assert_null(rc);
	}
	l = userprefs_list(a, "alice", USERPREFS_STAR, &err);
	assert_int_equal(json_array_size(l), 80);
	json_decref(l);
	l = userprefs_list(b, "alice", USERPREFS_STAR, &err);
	assert_int_equal(json_array_size(l), 80);
	json_decref(l);
	assert_int_equal(userprefs_stars(b, "r3/19"), 1);
	userprefs_close(a);
	userprefs_close(b);
}

int main(void)
{
	static char dir[64], hold[128];

	/* test_hold() reads DRAY_TEST_HOLD once: set here, for the crash
	   test's child, and released (the file exists) for everyone else. */
	if (test_mkdtemp(dir, sizeof(dir), "userprefs-hold") < 0)
		return 1;
	snprintf(release, sizeof(release), "%s/release", dir);
	snprintf(hold, sizeof(hold), "userprefs-rename:%s", release);
	fclose(fopen(release, "w"));
	setenv("DRAY_TEST_HOLD", hold, 1);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_toggle_and_reopen, setup,
	                                        teardown),
		cmocka_unit_test_setup_teardown(test_crash_before_rename, setup,
	                                        teardown),
		cmocka_unit_test_setup_teardown(test_bounds, setup, teardown),
		cmocka_unit_test_setup_teardown(test_damaged_file, setup,
	                                        teardown),
		cmocka_unit_test_setup_teardown(test_two_instances, setup,
	                                        teardown),
		cmocka_unit_test_setup_teardown(test_concurrent_toggles, setup,
	                                        teardown),
	};

	int rc = cmocka_run_group_tests(tests, NULL, NULL);

	test_rm_tree(dir);
	return rc;
}
