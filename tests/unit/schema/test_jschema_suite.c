/* Holds common/jschema to the official JSON Schema Test Suite (draft 7) for
 * every keyword it claims, plus jschema_local.json: cases from later suite
 * releases that the Debian package lacks, error messages and the
 * interpreter's own limits.
 *
 * usage: test_jschema_suite [SUITE_DIR [LOCAL_CASES]]
 *   SUITE_DIR defaults to $JSON_SCHEMA_TEST_SUITE, then
 *   /usr/share/json-schema-test-suite/tests/draft7. A missing directory fails.
 *
 * Case files: [{"description", "schema", "tests": [{"description", "data",
 * "valid"}]}]. Local files may add "compile_error" (a group whose schema must
 * be refused, with this text in the message) and "error" (a substring of the
 * validation error). */
#include "jschema.h"

#include <check.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* The keywords jschema claims, by suite file. */
/* clang-format off */
static const char *const suite_files[] = {
    "type.json", "enum.json", "const.json",
    "properties.json", "patternProperties.json", "additionalProperties.json", "required.json",
    "items.json", "minItems.json", "maxItems.json",
    "minLength.json", "maxLength.json", "pattern.json",
    "minimum.json", "maximum.json", "exclusiveMinimum.json", "exclusiveMaximum.json",
    "multipleOf.json",
    "not.json", "allOf.json", "anyOf.json", "oneOf.json", "if-then-else.json",
    "ref.json", "definitions.json", "boolean_schema.json",
    "optional/format/date-time.json", "optional/format/date.json",
    "optional/bignum.json", "optional/zeroTerminatedFloats.json",
};
/* clang-format on */

/* Groups not run, each with the reason. Every entry must match a group
 * (a stale entry fails the run). No pattern case needs an ECMA-262-only
 * feature in this suite release; jschema refuses such patterns at compile
 * time (see jschema_local.json). */
static struct skip {
    const char *file, *group, *why;
    int used;
} skips[] = {
    /* $ref to a remote document (the draft-07 meta-schema over HTTP): only
     * local JSON pointers are claimed. */
    {"ref.json", "remote ref, containing refs itself", "remote $ref", 0},
    {"definitions.json", "valid definition", "remote $ref (meta-schema)", 0},
    {"definitions.json", "invalid definition", "remote $ref (meta-schema)", 0},
    /* "$id" changing the base URI and "$ref": "node" resolved against it. */
    {"ref.json", "Recursive references between schemas", "$id base URI change", 0},
};

static const char *suite_dir;
static const char *local_file;
static int n_ran, n_passed, n_skipped;

static yajl_val load_json(const char *path)
{
    char ebuf[256] = "";
    FILE *f = fopen(path, "rb");
    long size;
    char *text;
    yajl_val v;

    ck_assert_msg(f != NULL, "cannot open %s", path);
    ck_assert(fseek(f, 0, SEEK_END) == 0 && (size = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0);
    text = malloc((size_t)size + 1);
    ck_assert(text && fread(text, 1, (size_t)size, f) == (size_t)size);
    text[size] = '\0';
    fclose(f);
    v = yajl_tree_parse(text, ebuf, sizeof(ebuf));
    free(text);
    ck_assert_msg(v != NULL, "%s: %s", path, ebuf);
    return v;
}

static yajl_val member(yajl_val o, const char *key)
{
    const char *path[] = {key, NULL};

    return yajl_tree_get(o, path, yajl_t_any);
}

static const char *str_member(yajl_val o, const char *key)
{
    yajl_val v = member(o, key);

    return YAJL_IS_STRING(v) ? v->u.string : NULL;
}

static struct skip *find_skip(const char *file, const char *group)
{
    size_t i;

    for (i = 0; i < sizeof(skips) / sizeof(skips[0]); i++)
        if (strcmp(skips[i].file, file) == 0 && strcmp(skips[i].group, group) == 0)
            return &skips[i];
    return NULL;
}

/* Strict UTF-8 (messages are copied into Kafka headers and logs). */
static int utf8_valid(const unsigned char *s)
{
    while (*s) {
        int n = *s < 0x80 ? 0 : *s >= 0xF0 ? 3 : *s >= 0xE0 ? 2 : *s >= 0xC2 ? 1 : -1;
        if (n < 0)
            return 0;
        for (s++; n > 0; n--, s++)
            if ((*s & 0xC0) != 0x80)
                return 0;
    }
    return 1;
}

/* One test case; returns 1 when it passed, printing why not otherwise. */
static int run_case(const char *file, const char *group, const struct jschema_schema *s, yajl_val t)
{
    char err[512];
    yajl_val data = member(t, "data"), valid = member(t, "valid");
    const char *desc = str_member(t, "description"), *want_err = str_member(t, "error");
    int got;

    ck_assert_msg(data && (YAJL_IS_TRUE(valid) || YAJL_IS_FALSE(valid)), "%s: malformed case",
                  file);
    got = jschema_validate(s, data, err, sizeof(err)) == 0;
    n_ran++;
    if (got != YAJL_IS_TRUE(valid)) {
        printf("FAIL %s | %s | %s: expected %s (%s)\n", file, group, desc,
               got ? "invalid" : "valid", got ? "accepted" : err);
        return 0;
    }
    if (!got && (err[0] != '/' || strchr(err, '\n') || !utf8_valid((unsigned char *)err) ||
                 (want_err && !strstr(err, want_err)))) {
        printf("FAIL %s | %s | %s: error \"%s\", want \"%s\"\n", file, group, desc, err,
               want_err ? want_err : "/...");
        return 0;
    }
    n_passed++;
    return 1;
}

/* One group; returns the number of failed cases. */
static int run_group(const char *file, yajl_val g)
{
    const char *group = str_member(g, "description"), *want = str_member(g, "compile_error");
    yajl_val tests = member(g, "tests");
    struct skip *sk = find_skip(file, group);
    struct jschema_schema *s = NULL;
    char err[512];
    size_t i;
    int failed = 0;

    ck_assert_msg(group && YAJL_IS_ARRAY(tests), "%s: malformed group", file);
    if (sk) {
        sk->used = 1;
        n_skipped += (int)tests->u.array.len;
        printf("skip %s | %s: %zu cases (%s)\n", file, group, tests->u.array.len, sk->why);
        return 0;
    }
    if (jschema_compile(&s, member(g, "schema"), err, sizeof(err)) != 0) {
        n_ran++;
        if (want && strstr(err, want)) {
            n_passed++;
            return 0;
        }
        printf("FAIL %s | %s: compile: %s\n", file, group, err);
        return 1;
    }
    ck_assert_msg(!want, "%s | %s: compiled, expected error \"%s\"", file, group, want);
    for (i = 0; i < tests->u.array.len; i++)
        failed += !run_case(file, group, s, tests->u.array.values[i]);
    jschema_free(s);
    return failed;
}

static void run_file(const char *path, const char *name)
{
    yajl_val doc = load_json(path);
    size_t i;
    int failed = 0, before = n_ran;

    ck_assert_msg(YAJL_IS_ARRAY(doc), "%s: not an array of groups", path);
    for (i = 0; i < doc->u.array.len; i++)
        failed += run_group(name, doc->u.array.values[i]);
    printf("%-36s %3d ran, %d failed\n", name, n_ran - before, failed);
    yajl_tree_free(doc);
    ck_assert_msg(failed == 0, "%s: %d cases failed", name, failed);
}

START_TEST(official_suite_file)
{
    char path[4096];

    snprintf(path, sizeof(path), "%s/%s", suite_dir, suite_files[_i]);
    run_file(path, suite_files[_i]);
}
END_TEST

START_TEST(local_cases)
{
    run_file(local_file, "jschema_local.json");
}
END_TEST

START_TEST(number_ll)
{
    static const struct {
        const char *text;
        int rc;
        long long value;
    } cases[] = {
        {"0", 0, 0},
        {"-0", 0, 0},
        {"1.0", 0, 1},
        {"12.0e1", 0, 120},
        {"1e18", 0, 1000000000000000000LL},
        {"9223372036854775807", 0, LLONG_MAX},
        {"-9223372036854775808", 0, LLONG_MIN},
        {"-92233720368547758.08e2", 0, LLONG_MIN},
        {"9223372036854775808", -1, 0},
        {"-9223372036854775809", -1, 0},
        {"1e19", -1, 0},
        {"1.5", -1, 0},
        {"1e-1", -1, 0},
        {"\"1\"", -1, 0},
    };
    char ebuf[64];
    size_t i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        yajl_val v = yajl_tree_parse(cases[i].text, ebuf, sizeof(ebuf));
        long long got = 42;
        ck_assert_ptr_nonnull(v);
        ck_assert_msg(jschema_number_ll(v, &got) == cases[i].rc, "%s", cases[i].text);
        ck_assert_msg(cases[i].rc || got == cases[i].value, "%s: %lld", cases[i].text, got);
        yajl_tree_free(v);
    }
    ck_assert_int_eq(jschema_number_ll(NULL, NULL), -1);
    ck_assert_uint_eq(jschema_utf8_len("a\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80"), 4);
}
END_TEST

START_TEST(skip_list_is_current)
{
    size_t i;

    for (i = 0; i < sizeof(skips) / sizeof(skips[0]); i++)
        ck_assert_msg(skips[i].used, "skip entry matches nothing: %s | %s", skips[i].file,
                      skips[i].group);
}
END_TEST

int main(int argc, char **argv)
{
    struct stat st;
    Suite *s = suite_create("jschema");
    TCase *tc = tcase_create("suite");
    SRunner *sr;
    int failures;

    suite_dir = argc > 1 ? argv[1] : getenv("JSON_SCHEMA_TEST_SUITE");
    if (!suite_dir)
        suite_dir = "/usr/share/json-schema-test-suite/tests/draft7";
    local_file = argc > 2 ? argv[2] : "jschema_local.json";
    if (stat(suite_dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        fprintf(stderr, "JSON Schema Test Suite not found at %s (install json-schema-test-suite)\n",
                suite_dir);
        return 1;
    }
    tcase_add_loop_test(tc, official_suite_file, 0,
                        (int)(sizeof(suite_files) / sizeof(suite_files[0])));
    tcase_add_test(tc, local_cases);
    tcase_add_test(tc, number_ll);
    tcase_add_test(tc, skip_list_is_current); /* runs last: the others mark skips used */
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_set_fork_status(sr, CK_NOFORK); /* the counts live in this process */
    srunner_run_all(sr, CK_NORMAL);
    failures = srunner_ntests_failed(sr);
    srunner_free(sr);
    printf("jschema suite: %d cases ran, %d passed, %d skipped\n", n_ran, n_passed, n_skipped);
    return failures == 0 && n_ran == n_passed ? 0 : 1;
}
