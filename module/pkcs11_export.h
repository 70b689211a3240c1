#ifndef KYSO_PKCS11_EXPORT_H
#define KYSO_PKCS11_EXPORT_H

/* The C_* entry points are the only symbols the module exports
 * (module/kyso-pkcs11.map); everything else is hidden. */
#define KYSO_EXPORT __attribute__((visibility("default")))

#endif
