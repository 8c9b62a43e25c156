/* table: aligned human-readable tables for standingctl (UTF-8 aware widths). */
#pragma once
#include <stdio.h>

typedef struct table table;

table *table_new(int ncols, const char *const *headers);
/* Copies the strings, control characters escaped ("\x1b"). */
void table_row(table *t, const char *const *cells);
void table_print(const table *t, FILE *f);
void table_free(table *t);
