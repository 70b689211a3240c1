/* The PIV driver: NIST SP 800-73-4 cards and YubiKeys' PIV application.
 * See docs/piv.md for the objects it shows and how it is configured. */
#ifndef KYSO_PIV_H
#define KYSO_PIV_H

#include "drivers/driver.h"

extern const struct driver piv_driver;

#endif
