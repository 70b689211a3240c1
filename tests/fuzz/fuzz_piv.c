/* Fuzz what the PIV driver reads from a card before any key is used: the
 * SELECT answer, YubiKey GET SERIAL and GET METADATA, the CHUID (serial
 * number), the PIN status, the Key History and the certificate containers
 * 53 { 70, 71 CertInfo (the "compressed" flag), FE } of every slot it lists
 * (SP 800-73-4 pt 1, 3.1.2, 3.3.2 and table 10), through the driver's own
 * hooks, with the card answering from the input (fuzz_card.h).
 *
 * Input: 1 byte of flags, then the card's answers.
 *   bit 0  the card takes extended APDUs      bit 1  the card speaks T=0
 *   bit 2  C_Login (user PIN)                 bit 3  the PIN again, context-specific
 *   bit 4  a reset by someone else, then the objects are read again
 *   bit 5  SO login (PUK held), C_InitPIN     bit 6  C_SetPIN
 *   bit 7  token info and objects once more at the end */
#include <string.h>

#include "drivers/piv/piv_internal.h"
#include "tests/fuzz/fuzz.h"
#include "tests/fuzz/fuzz_card.h"
#include "tests/fuzz/fuzz_driver.h"

/* Certificate, public and private key per slot. */
#define FUZZ_PIV_OBJECTS_MAX (3 * PIV_SLOT_COUNT)

static const uint8_t fuzz_pin[] = "123456";
static const uint8_t fuzz_puk[] = "12345678";
static const uint8_t fuzz_new_pin[] = "654321";

static void
fuzz_piv_token_info(struct card *card)
{
	struct drv_token_info info;

	memset(&info, 0x55, sizeof(info));
	CK_RV rv = fuzz_rv("token_info", piv_driver.token_info(card, &info));

	if (rv == CKR_OK)
		fuzz_check_token_info(&info);
}

static void
fuzz_piv_objects(struct card *card)
{
	struct drv_objects objs = { NULL, 0, 0 };
	CK_RV rv = fuzz_rv("load_objects", piv_driver.load_objects(card, &objs));

	if (rv == CKR_OK)
		fuzz_check_objects(&objs, FUZZ_PIV_OBJECTS_MAX);
	drv_objects_free(&objs);
}

static void
fuzz_piv_pin_status(struct card *card)
{
	struct drv_pin_status st;
	(void)fuzz_rv("pin_status", piv_driver.pin_status(card, &st));
	/* Counters are one byte on the card (or -1: unknown). */
	FUZZ_CHECK(st.user_tries_left >= -1 && st.user_tries_left <= 255);
	FUZZ_CHECK(st.so_tries_left >= -1 && st.so_tries_left <= 255);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_card fc;
	struct card card;
	uint8_t flags;
	CK_RV rv;

	fuzz_card_init(&fc, data, size);
	memset(&card, 0, sizeof(card));
	flags = fuzz_card_byte(&fc, 0);
	fuzz_card_attach(&fc, &card);
	card.extended = fc.extended = (flags & 0x01) != 0;
	card.t0 = (flags & 0x02) != 0;

	rv = fuzz_rv("match", piv_driver.match(&card));
	if (rv != CKR_OK)
		goto out;
	/* What the module does after a match (module/slot.c). */
	card.driver = &piv_driver;
	FUZZ_CHECK(piv_driver.bind(&card) == CKR_OK);

	fuzz_piv_token_info(&card);
	fuzz_piv_objects(&card);
	fuzz_piv_pin_status(&card);
	if (flags & 0x04)
		(void)fuzz_rv("login user", piv_driver.login(&card, DRV_USER, fuzz_pin, 6));
	if (flags & 0x08)
		(void)fuzz_rv("login context",
		              piv_driver.login(&card, DRV_CONTEXT, fuzz_pin, 6));
	if (flags & 0x10) {
		/* card_begin() saw a reset: the driver selects again and
		 * forgets what the card said. */
		card.reset_count++;
		(void)fuzz_rv("reselect", piv_driver.reselect(&card));
		fuzz_piv_objects(&card);
	}
	if (flags & 0x20) {
		(void)fuzz_rv("login so", piv_driver.login(&card, DRV_SO, fuzz_puk, 8));
		(void)fuzz_rv("init_pin", piv_driver.init_pin(&card, fuzz_new_pin, 6));
	}
	if (flags & 0x40)
		(void)fuzz_rv("change_pin", piv_driver.change_pin(&card, DRV_USER, fuzz_pin, 6,
		                                                  fuzz_new_pin, 6));
	if (flags & 0x80) {
		fuzz_piv_token_info(&card);
		fuzz_piv_objects(&card);
	}
	(void)fuzz_rv("logout", piv_driver.logout(&card));
	piv_driver.unbind(&card);
	FUZZ_CHECK(card.driver_data == NULL);
out:
	fuzz_card_finish(&fc);
	return 0;
}
