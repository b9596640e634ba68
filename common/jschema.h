/* jschema: a JSON Schema (draft-07) interpreter on top of yajl's tree API.
 *
 * Only the keywords listed below are implemented; they are held to the
 * official JSON Schema Test Suite (tests/unit/schema/test_jschema_suite.c).
 *
 *   type enum const properties patternProperties additionalProperties
 *   required items (schema and array form) minItems maxItems minLength
 *   maxLength minimum maximum exclusiveMinimum exclusiveMaximum multipleOf
 *   pattern format ("date-time" and "date" only, as assertions) not allOf anyOf
 *   oneOf if/then/else $ref (local JSON pointers: "#", "#/definitions/x")
 *   definitions, and boolean schemas.
 *
 * Keywords that carry no assertion ($schema draft-07, $id at the root,
 * $comment, title, description, default, examples, readOnly, writeOnly,
 * contentMediaType, contentEncoding) and unknown words are ignored, as the
 * specification asks. Known draft-07 assertions this interpreter does not
 * implement (additionalItems, contains, dependencies, propertyNames,
 * minProperties, maxProperties, uniqueItems, $id below the root, formats
 * other than date-time and date) make jschema_compile fail: a schema never silently means
 * less than it says.
 *
 * Limits:
 * - "pattern" and "patternProperties" use POSIX extended regular
 *   expressions (regcomp REG_EXTENDED), unanchored like ECMA-262. Patterns
 *   using ECMA-only syntax (\d \D \p{..} \u.. lookaround (?..) lazy
 *   quantifiers, backreferences) are refused at compile time rather than
 *   misread. Matching follows LC_CTYPE at jschema_compile time: byte-wise in
 *   the default "C" locale, so "." is one byte there, not one character.
 * - multipleOf divisors may carry at most 18 significant digits.
 * - Instances nested deeper than JS_MAX_DEPTH, and $ref chains that do not
 *   progress, fail validation with "too deep" instead of recursing.
 *
 * Numbers are compared exactly, from their decimal text: big integers, 1.0
 * (an integer), 1e2 and 100 all behave as in mathematics.
 */
#ifndef STOCKFLOW_JSCHEMA_H
#define STOCKFLOW_JSCHEMA_H

#include <stddef.h>
#include <yajl/yajl_tree.h>

/* Deepest instance nesting validated (containers on the path). */
#define JS_MAX_DEPTH 64

struct jschema_schema;

/* Compiles a draft-07 schema (an object or a boolean) once.
 * Borrows 'doc': it must outlive the compiled schema and stay unchanged.
 * Returns 0 and sets *out (caller frees with jschema_free), or -1 with one line
 * in err naming the offending keyword by JSON pointer. */
int jschema_compile(struct jschema_schema **out, yajl_val doc, char *err, size_t errlen);

/* Frees a compiled schema; NULL is a no-op. */
void jschema_free(struct jschema_schema *s);

/* Validates 'inst' (borrowed) against 's'. Returns 0 when valid, or -1 with
 * the first error in err as one line, "<JSON pointer>: <message>", e.g.
 * "/lines/0/qty: 0 is less than minimum 1" or
 * "/: missing required property \"order_id\"".
 * A compiled schema is never modified: concurrent calls are safe. */
int jschema_validate(const struct jschema_schema *s, yajl_val inst, char *err, size_t errlen);

/* The exact value of a JSON number that is an integer (1, 1.0, 1e3, -0)
 * and fits a long long. Returns 0, or -1 (not a number, not integral, out
 * of range). */
int jschema_number_ll(yajl_val v, long long *out);

/* RFC 3339 date-time with zone ("2024-05-01T12:00:00.5+02:00", T and Z in
 * either case, leap second only at 23:59:60 UTC) to epoch milliseconds,
 * zone applied, fraction truncated to ms, a leap second counted as the
 * next second. Returns 0, or -1 when 's' is not such a date-time. */
int jschema_datetime_ms(const char *s, long long *out_ms);

/* RFC 3339 full-date ("2024-02-29": four-digit year, month 01-12, a day
 * the month has) to days since 1970-01-01. Returns 0, or -1 when 's' is
 * not exactly such a date. */
int jschema_date_days(const char *s, long long *out_days);

/* Number of Unicode code points in a UTF-8 string. */
size_t jschema_utf8_len(const char *s);

#endif
