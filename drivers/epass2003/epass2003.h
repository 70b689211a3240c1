/* The Feitian ePass2003 driver (FTCOS, secure messaging SCP01). */
#ifndef KYSO_EPASS2003_H
#define KYSO_EPASS2003_H

#include "drivers/driver.h"

extern const struct driver epass2003_driver;

#endif
