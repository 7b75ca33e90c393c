/* test_util.c — SHA-256 against FIPS 180-4 test vectors and an asset's published hash; the PRNG's
 * determinism and range. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>
#include <stdlib.h>

#include "model/model.h"

static void test_sha256_fips_vectors(void **state) {
    (void)state;
    char hex[65];
    qb_sha256_hex("abc", 3, hex);
    assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    qb_sha256_hex("", 0, hex);
    assert_string_equal(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    const char *two = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    qb_sha256_hex(two, strlen(two), hex);
    assert_string_equal(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

static void test_sha256_file_matches_sources_md(void **state) {
    (void)state;
    char hex[65], err[QB_ERRLEN];
    /* sha256 published in shared/assets/SOURCES.md for tok512.bin */
    assert_int_equal(qb_sha256_file("assets/stories260K/tok512.bin", hex, err), 0);
    assert_string_equal(hex, "037cb335abb25d1fa9e8ecae30ed2a3a8ace9302862ebcdc05d51a6bbb10c312");
    assert_int_equal(qb_sha256_file("assets/does/not/exist", hex, err), -1);
    assert_non_null(strstr(err, "assets/does/not/exist"));
}

static void test_rng_deterministic_and_in_range(void **state) {
    (void)state;
    QbRng a, b;
    qb_rng_seed(&a, 42);
    qb_rng_seed(&b, 42);
    int diff_from_other_seed = 0;
    QbRng c;
    qb_rng_seed(&c, 43);
    for (int i = 0; i < 1000; i++) {
        uint64_t x = qb_rng_next(&a);
        assert_true(x == qb_rng_next(&b));
        diff_from_other_seed += x != qb_rng_next(&c);
        uint64_t k = qb_rng_below(&a, 7);
        qb_rng_below(&b, 7);
        assert_true(k < 7);
        double u = qb_rng_uniform(&a);
        qb_rng_uniform(&b);
        assert_true(u >= 0.0 && u < 1.0);
    }
    assert_true(diff_from_other_seed > 990);
}

static void test_read_file_errors_name_the_file(void **state) {
    (void)state;
    char err[QB_ERRLEN];
    size_t n = 0;
    assert_null(qb_read_file("/nonexistent/qbench.txt", &n, err));
    assert_non_null(strstr(err, "/nonexistent/qbench.txt"));
    char *buf = qb_read_file("assets/stories260K/expected_greedy_200steps.txt", &n, err);
    assert_non_null(buf);
    assert_int_equal(n, 464); /* size from SOURCES.md */
    free(buf);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sha256_fips_vectors),
        cmocka_unit_test(test_sha256_file_matches_sources_md),
        cmocka_unit_test(test_rng_deterministic_and_in_range),
        cmocka_unit_test(test_read_file_errors_name_the_file),
    };
    return cmocka_run_group_tests_name("util", tests, NULL, NULL);
}
