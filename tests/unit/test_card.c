/* card_begin/card_end/card_close: nesting, the reset hook, closing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "drivers/card/apdu.h"
#include "drivers/card/card.h"
#include "drivers/driver.h"
#include "tests/unit/script_transport.h"

static unsigned reselects;
static CK_RV reselect_rv;

static CK_RV
fake_reselect(struct card *card)
{
	uint16_t sw = 0;
	struct apdu select = { .cla = 0x00, .ins = 0xA4, .p1 = 0x04 };
	CK_RV rv;

	reselects++;
	/* The hook runs inside the transaction: it may send APDUs. */
	assert_int_equal(card->txn_depth, 1);
	rv = apdu_transmit(card, &select, NULL, &sw);
	return rv != CKR_OK ? rv : reselect_rv;
}

static const struct driver fake_driver = {
	.name = "fake",
	.reselect = fake_reselect,
};

static void
test_nesting(void **state)
{
	struct script s;
	struct card card;

	(void)state;
	memset(&card, 0, sizeof(card));
	script_init(&s);
	script_attach(&s, &card);

	assert_int_equal(card_begin(&card), CKR_OK);
	assert_int_equal(card_begin(&card), CKR_OK);
	assert_int_equal(card.txn_depth, 2);
	assert_int_equal(s.begins, 1);
	card_end(&card);
	assert_int_equal(s.ends, 0);
	card_end(&card);
	assert_int_equal(s.ends, 1);
	assert_int_equal(card.txn_depth, 0);
	/* An unmatched end is harmless. */
	card_end(&card);
	assert_int_equal(s.ends, 1);
	assert_int_equal(card.txn_depth, 0);
	assert_int_equal(card.reset_count, 0);
	script_free(&s);
}

static void
test_begin_fails(void **state)
{
	struct script s;
	struct card card;

	(void)state;
	memset(&card, 0, sizeof(card));
	script_init(&s);
	script_attach(&s, &card);
	s.begin_rv = CKR_DEVICE_REMOVED;
	assert_int_equal(card_begin(&card), CKR_DEVICE_REMOVED);
	assert_int_equal(card.txn_depth, 0);
	s.begin_rv = CKR_OK;
	assert_int_equal(card_begin(&card), CKR_OK);
	card_end(&card);
	assert_int_equal(s.ends, 1);
	script_free(&s);
}

static void
test_reset_reselects(void **state)
{
	struct script s;
	struct card card;

	(void)state;
	memset(&card, 0, sizeof(card));
	script_init(&s);
	script_attach(&s, &card);
	reselects = 0;
	reselect_rv = CKR_OK;

	/* No driver bound: the count still moves. */
	s.reset_on_begin = true;
	assert_int_equal(card_begin(&card), CKR_OK);
	assert_int_equal(card.reset_count, 1);
	card_end(&card);

	card.driver = &fake_driver;
	s.reset_on_begin = true;
	script_expect(&s, "00A40400", "9000");
	assert_int_equal(card_begin(&card), CKR_OK);
	assert_int_equal(reselects, 1);
	assert_int_equal(card.reset_count, 2);
	/* A nested begin does not reach the transport, so sees no reset. */
	assert_int_equal(card_begin(&card), CKR_OK);
	assert_int_equal(reselects, 1);
	card_end(&card);
	card_end(&card);

	/* No reset, no reselect. */
	assert_int_equal(card_begin(&card), CKR_OK);
	assert_int_equal(reselects, 1);
	card_end(&card);

	/* A failed reselect fails card_begin and releases the card. */
	reselect_rv = CKR_DEVICE_ERROR;
	s.reset_on_begin = true;
	script_expect(&s, "00A40400", "6A82");
	assert_int_equal(card_begin(&card), CKR_DEVICE_ERROR);
	assert_int_equal(card.txn_depth, 0);
	assert_int_equal(s.begins, s.ends);
	assert_int_equal(card.reset_count, 3);
	script_assert_done(&s);
	script_free(&s);
}

static void
test_close(void **state)
{
	struct script s;
	struct card card;
	struct apdu a = { .ins = 0xCA };
	uint16_t sw = 0;

	(void)state;
	memset(&card, 0, sizeof(card));
	script_init(&s);
	script_attach(&s, &card);
	card_close(&card);
	assert_int_equal(s.closes, 1);
	assert_null(card.ops);
	assert_null(card.transport);
	assert_int_equal(card_begin(&card), CKR_DEVICE_REMOVED);
	assert_int_equal(apdu_transmit(&card, &a, NULL, &sw), CKR_DEVICE_REMOVED);
	card_end(&card);
	card_close(&card);	/* twice is harmless */
	assert_int_equal(s.closes, 1);
	script_free(&s);
}

/* A card dropped inside an operation: the transaction ends before the
 * connection closes. */
static void
test_close_in_transaction(void **state)
{
	struct script s;
	struct card card;

	(void)state;
	memset(&card, 0, sizeof(card));
	script_init(&s);
	script_attach(&s, &card);
	assert_int_equal(card_begin(&card), CKR_OK);
	assert_int_equal(card_begin(&card), CKR_OK);
	card_close(&card);
	assert_int_equal(s.begins, 1);
	assert_int_equal(s.ends, 1);
	assert_int_equal(s.closes, 1);
	assert_int_equal(card.txn_depth, 0);
	script_free(&s);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_nesting),
		cmocka_unit_test(test_begin_fails),
		cmocka_unit_test(test_reset_reselects),
		cmocka_unit_test(test_close),
		cmocka_unit_test(test_close_in_transaction),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
