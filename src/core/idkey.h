/*
 * idkey: the comparison key of an identity name (a SCIM userName or an
 * email address, and a service principal's app id in the policy index).
 *
 * Two names are the same identity exactly when their keys are equal
 * bytes.  The key is the Unicode NFC form of the name after full case
 * folding (CaseFolding.txt statuses C and F, not the Turkic T rules):
 * "Émile" and "émile", "e" + U+0301 and "é", "Straße" and "STRASSE",
 * the Kelvin sign U+212A and "k" all give one key.  Turkish dotted
 * capital I (U+0130) folds to "i" + U+0307, so it matches neither "i"
 * nor dotless "ı" (U+0131), which folds to itself.  Compatibility forms
 * (NFKC: fullwidth letters, ligatures) stay distinct on purpose: they
 * are different characters an administrator can see, not spellings.
 *
 * Every layer that compares names uses this one function: the SCIM
 * store keeps the keys of userName and of each email in indexed columns
 * (uniqueness, SCIM filters, admin search), and the policy index keys
 * its aliases and each asked subject with it.  libutf8proc does the
 * Unicode work; pure ASCII takes a fast path with the same result and
 * no allocation.
 */

#ifndef RC_IDKEY_H
#define RC_IDKEY_H

#include <stddef.h>
#include <sys/types.h>

#define IDKEY_EINVAL	(-1)	/* not UTF-8, or a NUL byte inside */
#define IDKEY_ESPACE	(-2)	/* buffer too small for the key */
#define IDKEY_ENOMEM	(-3)

/*
 * Writes the key of s (len bytes, not necessarily NUL-terminated) into
 * buf (sz bytes) with a terminating NUL.  Returns the key's length, or
 * one of the negative IDKEY_E* codes (buf is then an empty string when
 * sz > 0).  Allocates nothing for ASCII input or a short key.
 */
ssize_t	 idkey_buf(const char *s, size_t len, char *buf, size_t sz);

/* The key of the C string s in a new allocation (caller frees), or
 * NULL: *rc (when not NULL) then says why (IDKEY_EINVAL/IDKEY_ENOMEM). */
char	*idkey_dup(const char *s, int *rc);

/*
 * 1 when s (len bytes of valid UTF-8) begins or ends with white space
 * or an invisible format character (U+200B, U+2060, U+FEFF...): such a
 * name looks like another one to a person; 0 otherwise.
 */
int	 idkey_edge_space(const char *s, size_t len);

/* A sentence for an IDKEY_E* code. */
const char *idkey_strerror(ssize_t);

#endif /* RC_IDKEY_H */
