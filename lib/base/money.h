/* money: amounts as integer minor units with an ISO 4217 currency code; the
 * number of decimals comes from the currency (EUR 2, VND 0, KWD 3). Never float. */
#pragma once
#include <stddef.h>
#include <stdint.h>

typedef struct money {
	int64_t minor;        /* amount in minor units (cents) */
	char currency[4];     /* "EUR", NUL-terminated */
} money;

/* Decimals ISO 4217 gives the currency (2 unless listed otherwise). */
int money_exponent(const char *currency);
/* Parse "0.85 EUR" / "50000 EUR" / "1200000 VND". 0, or -EINVAL with a
 * static message in *ret_why ("expected AMOUNT CURRENCY", "EUR has at most 2 decimals", ...). */
int money_parse(const char *s, money *ret, const char **ret_why);
/* Amount only, with the currency's decimals: "0.85", "1200000". buf >= 32 bytes. */
char *money_format_amount(const money *m, char *buf, size_t size);
