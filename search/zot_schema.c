/* SPDX-License-Identifier: Apache-2.0 */
/*
 * zot_schema.c - zot's search schema (pkg/extensions/search/
 * schema.graphql) as tables for search/graphql.h: every type, field,
 * argument and enum value with zot's names, types and nullability, so a
 * query written for zot validates here and gets the same shape of
 * answer. Object fields are the members of the values zot.c builds.
 */
#include <stddef.h>

#include "search/zot_int.h"

/* A field read from its parent's member of the same name. */
#define F(n, t)                          \
	{                                \
		.name = (n), .type = (t) \
	}
/* A field with a description. */
#define FD(n, t, d)                                          \
	{                                                    \
		.name = (n), .type = (t), .description = (d) \
	}
/* A query: its arguments, its resolver, its description. */
#define Q(n, t, a, fn, d)                                               \
	{                                                               \
		.name = (n), .type = (t), .args = (a), .resolve = (fn), \
		.description = (d)                                      \
	}
#define A(n, t, d)                                           \
	{                                                    \
		.name = (n), .type = (t), .description = (d) \
	}
#define END                  \
	{                    \
		.name = NULL \
	}

static const struct gql_field_def cve_result_fields[] = {
	F("Tag", "String"), F("CVEList", "[CVE]"),
	F("Summary", "ImageVulnerabilitySummary"), F("Page", "PageInfo"), END};

static const struct gql_field_def image_identifier_fields[] = {
	F("Repo", "String!"), F("Tag", "String!"), F("Digest", "String"),
	F("Platform", "Platform"), END};

static const struct gql_field_def cve_diff_fields[] = {
	F("Minuend", "ImageIdentifier!"),
	F("Subtrahend", "ImageIdentifier!"),
	F("CVEList", "[CVE]"),
	F("Summary", "ImageVulnerabilitySummary"),
	F("Page", "PageInfo"),
	END};

static const struct gql_field_def cve_fields[] = {
	F("Id", "String"),
	F("Title", "String"),
	F("Description", "String"),
	F("Reference", "String"),
	F("Severity", "String"),
	F("PackageList", "[PackageInfo]"),
	END};

static const struct gql_field_def package_fields[] = {
	F("Name", "String"), F("PackagePath", "String"),
	F("InstalledVersion", "String"), F("FixedVersion", "String"), END};

static const struct gql_field_def repo_info_fields[] = {
	FD("Images", "[ImageSummary]", "List of images in the repo"),
	FD("Summary", "RepoSummary", "Details about the repository itself"),
	END};

static const struct gql_field_def global_fields[] = {
	FD("Page", "PageInfo", "Pagination information"),
	FD("Images", "[ImageSummary]", "Images matching the search"),
	FD("Repos", "[RepoSummary]", "Repositories matching the search"),
	FD("Layers", "[LayerSummary]", "Layers (not searched: always empty)"),
	END};

static const struct gql_field_def image_summary_fields[] = {
	FD("RepoName", "String", "Repository of the image"),
	FD("Tag", "String", "Tag of the image in its repository"),
	FD("Digest", "String", "Digest of the image's manifest or index"),
	FD("MediaType", "String", "Media type of that manifest or index"),
	FD("Manifests", "[ManifestSummary]",
           "The image manifests: itself, or those of the index"),
	FD("Size", "String", "Bytes of the manifest, configs and layers"),
	FD("DownloadCount", "Int", "Pulls of the manifest"),
	FD("LastPullTimestamp", "Time", "Last pull of the manifest"),
	FD("PushTimestamp", "Time", "When it was pushed (not kept: null)"),
	FD("PushedBy", "String", "Who pushed it (not kept: null)"),
	FD("TaggedTimestamp", "Time", "When it was tagged (not kept: null)"),
	FD("LastUpdated", "Time", "Created time of the config"),
	F("Description", "String"),
	FD("IsSigned", "Boolean", "Has a cosign or notation signature"),
	F("SignatureInfo", "[SignatureSummary]"),
	F("Licenses", "String"),
	F("Labels", "String"),
	F("Title", "String"),
	F("Source", "String"),
	F("Documentation", "String"),
	F("Vendor", "String"),
	F("Authors", "String"),
	FD("Vulnerabilities", "ImageVulnerabilitySummary",
           "CVEs: no scanner is packaged, always null"),
	F("Referrers", "[Referrer]"),
	FD("IsDeletable", "Boolean", "The caller may delete this tag"),
	F("ArtifactType", "String"),
	END};

static const struct gql_field_def manifest_summary_fields[] = {
	F("Digest", "String"),
	F("ConfigDigest", "String"),
	F("LastUpdated", "Time"),
	F("Size", "String"),
	F("IsSigned", "Boolean"),
	F("SignatureInfo", "[SignatureSummary]"),
	F("Platform", "Platform"),
	F("DownloadCount", "Int"),
	F("Layers", "[LayerSummary]"),
	F("History", "[LayerHistory]"),
	F("Vulnerabilities", "ImageVulnerabilitySummary"),
	F("Referrers", "[Referrer]"),
	F("ArtifactType", "String"),
	END};

static const struct gql_field_def vuln_summary_fields[] = {
	F("MaxSeverity", "String"), F("Count", "Int"),
	F("UnknownCount", "Int"),   F("LowCount", "Int"),
	F("MediumCount", "Int"),    F("HighCount", "Int"),
	F("CriticalCount", "Int"),  END};

static const struct gql_field_def repo_summary_fields[] = {
	F("Name", "String"),
	F("LastUpdated", "Time"),
	F("Size", "String"),
	F("Platforms", "[Platform]"),
	F("Vendors", "[String]"),
	FD("NewestImage", "ImageSummary",
           "The image with the most recent created time"),
	F("DownloadCount", "Int"),
	F("StarCount", "Int"),
	F("IsBookmarked", "Boolean"),
	F("IsStarred", "Boolean"),
	FD("Rank", "Int", "How well the name matched a search (lower: better)"),
	END};

static const struct gql_field_def layer_summary_fields[] = {
	F("Size", "String"), F("Digest", "String"), END};

static const struct gql_field_def history_desc_fields[] = {
	F("Created", "Time"),       F("CreatedBy", "String"),
	F("Author", "String"),      F("Comment", "String"),
	F("EmptyLayer", "Boolean"), END};

static const struct gql_field_def layer_history_fields[] = {
	F("Layer", "LayerSummary"),
	F("HistoryDescription", "HistoryDescription"), END};

static const struct gql_field_def annotation_fields[] = {
	F("Key", "String"), F("Value", "String"), END};

static const struct gql_field_def referrer_fields[] = {
	F("MediaType", "String"),
	F("ArtifactType", "String"),
	F("Size", "Int"),
	F("Digest", "String"),
	F("Annotations", "[Annotation]!"),
	END};

static const struct gql_field_def platform_fields[] = {
	F("Os", "String"), F("Arch", "String"), END};

static const struct gql_field_def signature_fields[] = {
	F("Tool", "String"), F("IsTrusted", "Boolean"), F("Author", "String"),
	END};

static const struct gql_field_def page_info_fields[] = {
	FD("TotalCount", "Int!", "Objects on all pages"),
	FD("ItemCount", "Int!", "Objects on this page"), END};

static const struct gql_field_def paginated_repos_fields[] = {
	F("Page", "PageInfo"), F("Results", "[RepoSummary!]!"), END};

static const struct gql_field_def paginated_images_fields[] = {
	F("Page", "PageInfo"), F("Results", "[ImageSummary!]!"), END};

static const char *const sort_values[] = {
	"RELEVANCE", "UPDATE_TIME", "ALPHABETIC_ASC", "ALPHABETIC_DSC",
	"SEVERITY",  "STARS",       "DOWNLOADS",      NULL};

static const struct gql_arg_def page_input_fields[] = {
	A("limit", "Int", "Most results on the page; not negative"),
	A("offset", "Int", "Results skipped before the page; not negative"),
	A("sortBy", "SortCriteria", "The order of the results"), END};

static const struct gql_arg_def platform_input_fields[] = {
	A("Os", "String", NULL), A("Arch", "String", NULL), END};

static const struct gql_arg_def image_input_fields[] = {
	A("Repo", "String!", NULL), A("Tag", "String!", NULL),
	A("Digest", "String", NULL), A("Platform", "PlatformInput", NULL), END};

static const struct gql_arg_def filter_fields[] = {
	A("Os", "[String]", NULL),           A("Arch", "[String]", NULL),
	A("HasToBeSigned", "Boolean", NULL), A("IsBookmarked", "Boolean", NULL),
	A("IsStarred", "Boolean", NULL),     END};

static const struct gql_arg_def cve_list_args[] = {
	A("image", "String!", NULL),      A("requestedPage", "PageInput", NULL),
	A("searchedCVE", "String", NULL), A("excludedCVE", "String", NULL),
	A("severity", "String", NULL),    END};

static const struct gql_arg_def cve_diff_args[] = {
	A("minuend", "ImageInput!", NULL),
	A("subtrahend", "ImageInput!", NULL),
	A("requestedPage", "PageInput", NULL),
	A("searchedCVE", "String", NULL),
	A("excludedCVE", "String", NULL),
	END};

static const struct gql_arg_def image_for_cve_args[] = {
	A("id", "String!", NULL), A("filter", "Filter", NULL),
	A("requestedPage", "PageInput", NULL), END};

static const struct gql_arg_def cve_fixed_args[] = {
	A("id", "String!", NULL), A("image", "String!", NULL),
	A("filter", "Filter", NULL), A("requestedPage", "PageInput", NULL),
	END};

static const struct gql_arg_def for_digest_args[] = {
	A("id", "String!", "Digest to be used in searching for images"),
	A("requestedPage", "PageInput", NULL), END};

static const struct gql_arg_def page_args[] = {
	A("requestedPage", "PageInput", "Sets the parameters of the page"),
	END};

static const struct gql_arg_def image_list_args[] = {
	A("repo", "String!", "Repository name (\"\": all of them)"),
	A("requestedPage", "PageInput", NULL), END};

static const struct gql_arg_def expanded_args[] = {
	A("repo", "String!", "Repository name"), END};

static const struct gql_arg_def global_args[] = {
	A("query", "String!",
          "Searches repository names; with ':', the tags of one repository"),
	A("filter", "Filter", NULL), A("requestedPage", "PageInput", NULL),
	END};

static const struct gql_arg_def dependency_args[] = {
	A("image", "String!", "Image name in the format `repository:tag`"),
	A("digest", "String", "A manifest of the image; null: all of them"),
	A("requestedPage", "PageInput", NULL), END};

static const struct gql_arg_def image_args[] = {
	A("image", "String!", "Image name in the format `repository:tag`"),
	END};

static const struct gql_arg_def referrers_args[] = {
	A("repo", "String!", NULL), A("digest", "String!", NULL),
	A("type", "[String!]", "Artifact types to return"), END};

static const struct gql_field_def query_fields[] = {
	Q("CVEListForImage", "CVEResultForImage!", cve_list_args, zq_cve,
          "CVEs of an image (not supported: no scanner)"),
	Q("CVEDiffListForImages", "CVEDiffResult!", cve_diff_args, zq_cve,
          "CVEs of one image not in another (not supported: no scanner)"),
	Q("ImageListForCVE", "PaginatedImagesResult!", image_for_cve_args,
          zq_cve, "Images with a CVE (not supported: no scanner)"),
	Q("ImageListWithCVEFixed", "PaginatedImagesResult!", cve_fixed_args,
          zq_cve, "Images where a CVE is fixed (not supported: no scanner)"),
	Q("ImageListForDigest", "PaginatedImagesResult!", for_digest_args,
          zq_image_list_for_digest,
          "Images whose manifest, config or a layer has the digest"),
	Q("RepoListWithNewestImage", "PaginatedReposResult!", page_args,
          zq_repo_list, "Repositories with their newest image"),
	Q("ImageList", "PaginatedImagesResult!", image_list_args, zq_image_list,
          "The images of a repository"),
	Q("ExpandedRepoInfo", "RepoInfo!", expanded_args, zq_expanded,
          "A repository and its images"),
	Q("GlobalSearch", "GlobalSearchResult!", global_args, zq_global,
          "Searches repositories and tags"),
	Q("DerivedImageList", "PaginatedImagesResult!", dependency_args,
          zq_derived, "Images built on top of the image"),
	Q("BaseImageList", "PaginatedImagesResult!", dependency_args, zq_base,
          "Images the image is built on"),
	Q("Image", "ImageSummary!", image_args, zq_image,
          "One image by `repository:tag`"),
	Q("Referrers", "[Referrer]!", referrers_args, zq_referrers,
          "Manifests whose subject is the digest"),
	Q("StarredRepos", "PaginatedReposResult!", page_args, zq_user_repos,
          "Repositories the user starred (none without users' preferences)"),
	Q("BookmarkedRepos", "PaginatedReposResult!", page_args, zq_user_repos,
          "Repositories the user bookmarked (none without users' preferences)"),
	END};

#define OBJ(n, f, d)                                            \
	{                                                       \
		.kind = GQL_OBJECT, .name = (n), .fields = (f), \
		.description = (d)                              \
	}
#define INPUT(n, f, d)                                                      \
	{                                                                   \
		.kind = GQL_INPUT_OBJECT, .name = (n), .input_fields = (f), \
		.description = (d)                                          \
	}

const struct gql_type_def zot_types[] = {
	{.kind = GQL_SCALAR, .name = "Time", .description = "A timestamp"},
	OBJ("CVEResultForImage", cve_result_fields,
            "Contains the tag of the image and a list of CVEs"),
	OBJ("ImageIdentifier", image_identifier_fields, "ImageIdentifier"),
	OBJ("CVEDiffResult", cve_diff_fields,
            "The CVEs of Minuend not in Subtrahend"),
	OBJ("CVE", cve_fields, "A CVE and the packages it affects"),
	OBJ("PackageInfo", package_fields, "A package affected by a CVE"),
	OBJ("RepoInfo", repo_info_fields,
            "A repository: its summary and its images"),
	OBJ("GlobalSearchResult", global_fields,
            "Search results: images, repositories and layers"),
	OBJ("ImageSummary", image_summary_fields,
            "An image: a tag of a repository and what it names"),
	OBJ("ManifestSummary", manifest_summary_fields,
            "One image manifest: for one platform"),
	OBJ("ImageVulnerabilitySummary", vuln_summary_fields,
            "Summary of the CVEs of an image"),
	OBJ("RepoSummary", repo_summary_fields, "A repository"),
	OBJ("LayerSummary", layer_summary_fields, "A layer of an image"),
	OBJ("HistoryDescription", history_desc_fields,
            "How a layer was created"),
	OBJ("LayerHistory", layer_history_fields,
            "A layer and its history entry"),
	OBJ("Annotation", annotation_fields, "An annotation: key and value"),
	OBJ("Referrer", referrer_fields,
            "A manifest that refers to another as its subject"),
	OBJ("Platform", platform_fields, "Operating system and architecture"),
	OBJ("SignatureSummary", signature_fields, "A signature"),
	{.kind = GQL_ENUM,
         .name = "SortCriteria",
         .enum_values = sort_values,
         .description = "Orders of results"},
	OBJ("PageInfo", page_info_fields, "The page returned"),
	INPUT("PageInput", page_input_fields,
              "Pagination parameters; empty: every object"),
	INPUT("PlatformInput", platform_input_fields,
              "Operating system and architecture"),
	INPUT("ImageInput", image_input_fields, "An image"),
	OBJ("PaginatedReposResult", paginated_repos_fields,
            "A page of RepoSummary objects"),
	OBJ("PaginatedImagesResult", paginated_images_fields,
            "A page of ImageSummary objects"),
	INPUT("Filter", filter_fields, "Filters of images and repositories"),
	OBJ("Query", query_fields, "Queries supported by dray (zot's)"),
	{.name = NULL},
};
