/* The Varlink interface descriptions standingd serves (GetInterfaceDescription).
 * They are the API's documentation: keep them in step with api.c. */
#pragma once

#define API_IDL_COMMON \
"# standingd: errors shared by all io.standingd interfaces, and the daemon's clock.\n" \
"interface io.standingd\n" \
"\n" \
"# The daemon's now, UTC (its test clock when it runs on one). Any caller may ask:\n" \
"# standingctl takes \"today\" from it, not from the host it runs on.\n" \
"method Now() -> (now: string)\n" \
"\n" \
"# The caller's Unix user may not call this method, or may not act on this order or\n" \
"# standing order: shop users reach only what shop users placed; salespeople read\n" \
"# orders and keep the CRM (README, Access control).\n" \
"error PermissionDenied ()\n" \
"\n" \
"# standingd failed to answer; errno is the errno(3) number it met, positive (28: ENOSPC).\n" \
"error InternalError (errno: int)\n" \
"\n" \
"# Sent once, unasked, to a connection over max_connections_per_user (of its Unix\n" \
"# user) or max_connections, before it is closed; limit is the one it met.\n" \
"error TooManyConnections (limit: int)\n"

#define API_IDL_TYPES \
"type Address (name: string, street: string, postcode: ?string, city: string, country: string)\n" \
"\n" \
"# unit_price is a decimal string in the currency's minor unit precision. In an Order,\n" \
"# net is quantity x unit_price (requests leave it out).\n" \
"type Line (sku: string, quantity: int, unit_price: string, currency: string, net: ?string)\n" \
"\n" \
"type Money (amount: string, currency: string)\n" \
"\n" \
"# One change of an order's status: at (UTC), by (the caller as ROLE:USER, its Unix\n" \
"# user under the role it acted in: ops:root, shop:webshop, supplier:lumen; or\n" \
"# \"standingd\" for what the daemon did itself), the status it took, and why.\n" \
"type Transition (at: string, by: string, status: string, reason: ?string)\n" \
"\n" \
"# A sales order. delivery is local time with its UTC offset; created, shipped and paid\n" \
"# are UTC. net is the sum of the lines' net; vat is net x vat_rate (the customer's vat:,\n" \
"# \"0%\" when none) rounded half away from zero once per order; gross = net + vat, what\n" \
"# is charged to an account or paid in advance (total is gross too). amount_due is what\n" \
"# a prepaid order awaiting payment awaits (null otherwise); payment_reference is the\n" \
"# reference its payment should carry. history: every status it took, oldest first.\n" \
"type Order (\n" \
"  order: string,\n" \
"  standing_order: ?string,\n" \
"  customer: string,\n" \
"  supplier: string,\n" \
"  ship_to: Address,\n" \
"  lines: []Line,\n" \
"  net: Money,\n" \
"  vat_rate: string,\n" \
"  vat: Money,\n" \
"  gross: Money,\n" \
"  total: Money,\n" \
"  amount_due: ?Money,\n" \
"  payment_reference: ?string,\n" \
"  paid: ?string,\n" \
"  delivery: string,\n" \
"  created: string,\n" \
"  payment: (account, prepaid),\n" \
"  status: (awaiting_payment, on_hold, confirmed, shipped, cancelled),\n" \
"  history: []Transition,\n" \
"  late: bool,\n" \
"  carrier: ?string,\n" \
"  tracking: ?string,\n" \
"  shipped: ?string\n" \
")\n"

#define API_IDL_SUPPLIER \
"# What a supplier must ship: orders already created and occurrences still to come.\n" \
"interface io.standingd.Supplier\n" \
"\n" \
API_IDL_TYPES \
"\n" \
"# One delivery. order is set once the repeat order exists; a projected one has none.\n" \
"type Shipment (\n" \
"  delivery: string,\n" \
"  delivery_utc: string,\n" \
"  status: (projected, awaiting_payment, on_hold, confirmed, shipped),\n" \
"  order: ?string,\n" \
"  standing_order: ?string,\n" \
"  customer: string,\n" \
"  customer_name: string,\n" \
"  supplier: string,\n" \
"  ship_to: Address,\n" \
"  lines: []Line,\n" \
"  carrier: ?string,\n" \
"  tracking: ?string\n" \
")\n" \
"\n" \
"# Shipments with delivery in [from, to), sorted by delivery. from and to are dates\n" \
"# (YYYY-MM-DD, midnight in each delivery's own zone) or instants (2027-01-01T00:00:00Z);\n" \
"# the window is at most 400 days. A supplier's user always gets its own shipments;\n" \
"# ops may name a supplier or get all. With \"more\", shipments come in replies of\n" \
"# at most 100.\n" \
"method ListUpcoming(from: string, to: string, supplier: ?string) -> (shipments: []Shipment)\n" \
"\n" \
"# Marks a confirmed order shipped and emits order.shipped. Calling it again with the\n" \
"# same carrier and tracking returns the order unchanged. An order awaiting payment or\n" \
"# on hold is NotConfirmed (with its status). An empty carrier or tracking, or one\n" \
"# with a control character, is org.varlink.service.InvalidParameter naming it.\n" \
"method MarkShipped(order: string, carrier: string, tracking: string) -> (order: Order)\n" \
"\n" \
"error OrderNotFound (order: string)\n" \
"error AlreadyShipped (order: string, carrier: string, tracking: string)\n" \
"error OrderCancelled (order: string)\n" \
"error NotConfirmed (order: string, status: string)\n" \
"\n" \
"# The window holds more shipments than one call returns: ask for a shorter one.\n" \
"error TooManyShipments (limit: int)\n"

/* The ledger's types, in Orders and in Crm (a profile has the account). */
#define API_IDL_ACCOUNT \
"# One ledger entry: a charge (an account order), a payment (RecordAccountPayment, or a\n" \
"# prepaid order's RecordPayment), a credit (a charged order cancelled) or a refund (a\n" \
"# paid prepaid order cancelled). amount is positive: a charge or a refund raises what\n" \
"# the customer owes, a payment or a credit lowers it; balance_after is the balance\n" \
"# in that currency after the entry (negative: a credit balance). seq counts from 1 per\n" \
"# customer; by is who caused it (as in Transition).\n" \
"type LedgerEntry (seq: int, kind: (charge, payment, credit, refund), order: ?string, amount: Money, at: string, balance_after: Money, reference: ?string, by: ?string)\n" \
"\n" \
"# A customer's account. account (its number) and credit_limit are null for a customer\n" \
"# without one.\n" \
"type Account (customer: string, account: ?string, credit_limit: ?Money, balances: []Money, open_orders: []string, entries: []LedgerEntry)\n"

#define API_IDL_ORDERS \
"# Orders: what a web shop's checkout and ops staff place and look up.\n" \
"interface io.standingd.Orders\n" \
"\n" \
API_IDL_TYPES \
"\n" \
API_IDL_ACCOUNT \
"\n" \
"# A problem with a definition: field is its path (lines[0].unit_price).\n" \
"type FieldError (field: string, message: string)\n" \
"\n" \
"# Places (or replaces) a standing order. definition has the keys of a standing order\n" \
"# in orders.d/*.yaml (id, customer, supplier, ship_to, lines, payment, schedule,\n" \
"# reminders) and is validated exactly like them. A shop user may replace only a\n" \
"# standing order that a shop user placed.\n" \
"method PlaceStandingOrder(definition: object, idempotency_key: ?string) -> (standing_order: string, next_delivery: ?string)\n" \
"\n" \
"# Ends a standing order placed through this API; its orders are kept. Shop users:\n" \
"# only those shop users placed (also for SkipOccurrence).\n" \
"method CancelStandingOrder(standing_order: string) -> ()\n" \
"\n" \
"# Skips one future occurrence (delivery: its instant, as ListUpcoming shows it).\n" \
"method SkipOccurrence(standing_order: string, delivery: string) -> (standing_order: string, delivery: string)\n" \
"\n" \
"# A one-time order, created at once. payment defaults to account; delivery is a date\n" \
"# (midnight in the customer's zone) or an instant. An account order is charged to\n" \
"# the account and confirmed, or, when the charge would take the balance past the\n" \
"# credit limit, created on_hold and not charged (order.on_hold). A prepaid order is\n" \
"# awaiting_payment until RecordPayment (order.awaiting_payment). ship_to and lines are checked as\n" \
"# a standing order's are (text without control characters, a country code like FI).\n" \
"# A delivery before the daemon's now is an InvalidOrder error for the field delivery.\n" \
"method PlaceOrder(customer: string, supplier: string, ship_to: Address, lines: []Line, payment: ?string, delivery: string, idempotency_key: ?string) -> (order: Order)\n" \
"\n" \
"method GetOrder(order: string) -> (order: Order)\n" \
"\n" \
"# Orders by delivery, filtered; from/to as in ListUpcoming. With \"more\", in replies of\n" \
"# at most 100. A shop user gets (and GetOrder finds) only one-time orders shop users\n" \
"# placed and the orders of standing orders shop users placed.\n" \
"method ListOrders(customer: ?string, supplier: ?string, standing_order: ?string, status: ?string, from: ?string, to: ?string) -> (orders: []Order)\n" \
"\n" \
"# A payment for a prepaid order awaiting payment: amount must be exactly what is due\n" \
"# (else WrongAmount), reference the bank's or the payment provider's (text, not empty).\n" \
"# The order becomes confirmed. Shop users: only orders shop users placed.\n" \
"method RecordPayment(order: string, amount: Money, reference: string, idempotency_key: ?string) -> (order: Order)\n" \
"\n" \
"# A payment to a customer's account (ops only): a payment entry that lowers the balance\n" \
"# in amount's currency (amount > 0); paying more than is owed leaves a credit balance.\n" \
"method RecordAccountPayment(customer: string, amount: Money, reference: string, idempotency_key: ?string) -> (entry: LedgerEntry)\n" \
"\n" \
"# Releases an order on hold: the credit limit is checked again; the order is charged\n" \
"# and confirmed, or stays on hold (CreditLimitExceeded). Shop users: only orders shop\n" \
"# users placed.\n" \
"method ReleaseOrder(order: string, idempotency_key: ?string) -> (order: Order)\n" \
"\n" \
"# Puts a confirmed account order on hold (ops only); its charge is credited back until\n" \
"# ReleaseOrder charges it again. reason is recorded.\n" \
"method HoldOrder(order: string, reason: ?string, idempotency_key: ?string) -> (order: Order)\n" \
"\n" \
"# Cancels an order not yet shipped: a charged one gets a credit entry, a paid prepaid\n" \
"# one a credit and a refund entry (the ledger never deletes); order.cancelled. A\n" \
"# shipped or cancelled order is WrongStatus. Shop users: only orders shop users placed.\n" \
"method CancelOrder(order: string, reason: string, idempotency_key: ?string) -> (order: Order)\n" \
"\n" \
"# A customer's account (ops only): balances per currency (positive: the customer owes),\n" \
"# the numbers of its open orders (on_hold, awaiting_payment) and its last 20 entries,\n" \
"# oldest first.\n" \
"method GetAccount(customer: string) -> (account: Account)\n" \
"\n" \
"# Ledger entries in [from, to) by time, oldest first (ops only); from and to as in\n" \
"# ListOrders (a date is midnight in the customer's zone), each optional. With \"more\",\n" \
"# in replies of at most 100.\n" \
"method ListLedger(customer: string, from: ?string, to: ?string) -> (entries: []LedgerEntry)\n" \
"\n" \
"error InvalidDefinition (errors: []FieldError)\n" \
"error InvalidOrder (errors: []FieldError)\n" \
"error StandingOrderNotFound (standing_order: string)\n" \
"error DefinedInFile (standing_order: string, file: string, line: int)\n" \
"error NoSuchOccurrence (standing_order: string, delivery: string)\n" \
"error AlreadyCreated (standing_order: string, delivery: string, order: string)\n" \
"error OrderNotFound (order: string)\n" \
"error CustomerNotFound (customer: string)\n" \
"\n" \
"# The charge would take the account's balance past its credit limit (all in the\n" \
"# limit's currency): balance before the charge, the limit, the order's gross.\n" \
"error CreditLimitExceeded (order: string, balance: Money, limit: Money, total: Money)\n" \
"\n" \
"# RecordPayment's amount is not exactly what the order awaits.\n" \
"error WrongAmount (order: string, due: Money)\n" \
"\n" \
"# The order's status does not allow the call (ReleaseOrder needs on_hold,\n" \
"# RecordPayment awaiting_payment, HoldOrder a confirmed account order, CancelOrder\n" \
"# one neither shipped nor cancelled).\n" \
"error WrongStatus (order: string, status: string)\n" \
"\n" \
"# RecordAccountPayment for a customer without an account.\n" \
"error NoAccount (customer: string)\n" \
"\n" \
"# More ledger entries match than one call without \"more\" returns.\n" \
"error TooManyEntries (limit: int)\n" \
"\n" \
"# idempotency_key (the mutating methods): 1..200 bytes of text without control\n" \
"# characters. A call with the key of an earlier successful call of the same Unix\n" \
"# user and the same parameters (the key left out, member order aside) gets that\n" \
"# call's reply again and changes nothing, for at least 24 hours, across restarts.\n" \
"# The same key with other parameters is this error; nothing is done.\n" \
"error IdempotencyKeyReused (idempotency_key: string)\n" \
"\n" \
"# More orders match than one call returns: narrow the filters or the window.\n" \
"error TooManyOrders (limit: int)\n"

#define API_IDL_OPS \
"# Operating standingd.\n" \
"interface io.standingd.Ops\n" \
"\n" \
"type Line (sku: string, quantity: int, unit_price: string, currency: string)\n" \
"\n" \
"type StandingOrder (\n" \
"  id: string,\n" \
"  customer: string,\n" \
"  supplier: string,\n" \
"  source: string,\n" \
"  # API ones: who placed it first, \"shop:USER\" or \"ops:USER\"\n" \
"  placed_by: ?string,\n" \
"  timezone: string,\n" \
"  paused: bool,\n" \
"  # the next occurrence to be created (a skipped one is passed over); null when paused\n" \
"  # or when the schedule has no more\n" \
"  next_delivery: ?string,\n" \
"  next_create_at: ?string,\n" \
"  created: int,\n" \
"  skipped: int\n" \
")\n" \
"\n" \
"type Occurrence (standing_order: string, customer: string, supplier: string, delivery: string, create_at: string, lines: []Line)\n" \
"\n" \
"# An outbox event waiting for delivery (pending) or given up on (parked).\n" \
"# id: INSTANCE-SEQ, stable; at: when it happened; order: null for account.payment\n" \
"# and a task.due about no order; task: the task of a task.due, else null;\n" \
"# attempts: failed attempts so far; next_attempt: null when due at once (and when\n" \
"# parked); last_error: what the notify command said last.\n" \
"type OutboxEvent (id: string, seq: int, type: string, at: string, order: ?string, customer: ?string, task: ?string, attempts: int, next_attempt: ?string, last_error: ?string, parked: bool, parked_at: ?string)\n" \
"\n" \
"# Counts, the next order to be created (its create_at, UTC; never a skipped occurrence\n" \
"# nor one of a paused standing order) and the outbox: outbox_pending events wait for\n" \
"# delivery (outbox_backlog is the same number, kept for older clients),\n" \
"# outbox_parked were given up on (ListOutbox, RetryOutbox), outbox_oldest_pending_age\n" \
"# is the age in seconds at now of the oldest pending event (null when none).\n" \
"# workers: the threads answering read-only calls (0: all on the loop), workers_busy:\n" \
"# calls they are answering, calls_waiting: read-only calls waiting for one.\n" \
"method Status() -> (version: string, now: string, customers: int, standing_orders: int, active: int, paused: int, orders: int, outbox_backlog: int, outbox_pending: int, outbox_parked: int, outbox_oldest_pending_age: ?int, next_due: ?string, next_standing_order: ?string, max_loop_step_ms: float, max_loop_step_cpu_ms: float, workers: int, workers_busy: int, calls_waiting: int)\n" \
"\n" \
"# Reloads the definition files; all or nothing. Every failure is InvalidDefinitions,\n" \
"# one line per problem: FILE:LINE:COL: message, or FILE: message for a file that\n" \
"# cannot be read (missing, too large, not a regular file) or a store that cannot\n" \
"# be written.\n" \
"method Reload() -> (customers: int, standing_orders: int)\n" \
"\n" \
"method ListStandingOrders() -> (standing_orders: []StandingOrder)\n" \
"\n" \
"# Occurrences with delivery in [from 00:00, to 00:00) in each schedule's zone, as\n" \
"# standingctl forecast prints them, less those skipped (SkipOccurrence, a catch-up\n" \
"# policy, a pause): what was or will be created; at most 400 days.\n" \
"method Forecast(from: string, to: string) -> (occurrences: []Occurrence)\n" \
"\n" \
"# Pending events (parked: false or absent) or parked ones, oldest first, those with\n" \
"# seq after `after` (default 0), at most limit (1..1000, default 100); more: there\n" \
"# are more after the last one returned.\n" \
"method ListOutbox(parked: ?bool, after: ?int, limit: ?int) -> (events: []OutboxEvent, more: bool)\n" \
"\n" \
"# Makes parked events pending again with a fresh attempt count, due now: the one\n" \
"# with this id (INSTANCE-SEQ, or SEQ alone), or all of them (all: true); exactly one\n" \
"# of id and all. retried: how many. An id that names no parked event is NoSuchEvent.\n" \
"method RetryOutbox(id: ?string, all: ?bool) -> (retried: int)\n" \
"\n" \
"error NoSuchEvent (id: string)\n" \
"\n" \
"error InvalidDefinitions (errors: []string)\n" \
"\n" \
"# The window holds more occurrences than one call returns: ask for a shorter one.\n" \
"error TooManyOccurrences (limit: int)\n"

#define API_IDL_CRM \
"# The CRM (doc/crm.md): customers' profiles, customers a web shop signs up, the\n" \
"# interaction log and salespeople's tasks. Salespeople (users: of salespeople: in\n" \
"# standingd.yaml) may call every method here but PlaceCustomer, for every customer;\n" \
"# shop users only PlaceCustomer; ops all. Instants are UTC (2027-01-01T08:00:00Z;\n" \
"# requests may give an offset).\n" \
"interface io.standingd.Crm\n" \
"\n" \
API_IDL_TYPES \
"\n" \
API_IDL_ACCOUNT \
"\n" \
"type Salesperson (id: string, name: string, email: string, language: string)\n" \
"\n" \
"type Contact (name: string, role: ?string, email: ?string, phone: ?string)\n" \
"\n" \
"# source: \"orders.d/acme.yaml:3\" (where it is defined) or \"api\"; next_delivery:\n" \
"# the next occurrence to be created, local time with its offset (null when paused or\n" \
"# none is left).\n" \
"type CustomerStandingOrder (id: string, supplier: string, source: string, paused: bool, next_delivery: ?string)\n" \
"\n" \
"# One step of a task's history: at, by (sales:USER, ops:USER, standingd), what was\n" \
"# done, a note (CompleteTask's) or null.\n" \
"type TaskStep (at: string, by: string, action: (created, snoozed, done, cancelled), note: ?string)\n" \
"\n" \
"# A salesperson's task: a reminder of a standing order (before a delivery, after a\n" \
"# shipment), one the system raised (an order on hold, a prepaid order overdue) or one\n" \
"# added by hand. due: when it comes due; delivery: the occurrence's, for before.\n" \
"type Task (\n" \
"  id: string,\n" \
"  assignee: string,\n" \
"  customer: string,\n" \
"  due: string,\n" \
"  text: string,\n" \
"  kind: (before, after_shipped, on_hold, payment_overdue, manual),\n" \
"  order: ?string,\n" \
"  standing_order: ?string,\n" \
"  delivery: ?string,\n" \
"  status: (open, done, cancelled),\n" \
"  created: string,\n" \
"  history: []TaskStep\n" \
")\n" \
"\n" \
"# One entry of a customer's log, append-only: author is sales:USER or ops:USER\n" \
"# (LogInteraction's caller), or standingd for an e-mail the mailer delivered\n" \
"# (message_id its Message-ID). seq orders entries logged at the same instant.\n" \
"type Interaction (customer: string, at: string, seq: int, kind: (visit, call, email, meeting, note), contact: ?string, summary: string, author: string, message_id: ?string)\n" \
"\n" \
"# A customer in ListCustomers: source as in CustomerStandingOrder; salesperson its id.\n" \
"type CustomerSummary (id: string, name: string, language: string, timezone: string, salesperson: ?string, source: string)\n" \
"\n" \
"# A customer's profile: orders_open are its orders neither shipped nor cancelled\n" \
"# (awaiting_payment, on_hold, confirmed) by number, at most 100 (orders_open_more:\n" \
"# there are more); the account's open_orders are only those on hold or awaiting\n" \
"# payment. open_tasks its open tasks by due (at most 100), interactions its last\n" \
"# 20, newest first; account has its last 5 entries.\n" \
"type Customer (\n" \
"  id: string,\n" \
"  name: string,\n" \
"  language: string,\n" \
"  timezone: string,\n" \
"  salesperson: ?Salesperson,\n" \
"  source: string,\n" \
"  account: Account,\n" \
"  contacts: []Contact,\n" \
"  standing_orders: []CustomerStandingOrder,\n" \
"  orders_open: []Order,\n" \
"  orders_open_more: bool,\n" \
"  open_tasks: []Task,\n" \
"  interactions: []Interaction\n" \
")\n" \
"\n" \
"# A problem with a definition: field is its path (contacts[0].email).\n" \
"type FieldError (field: string, message: string)\n" \
"\n" \
"method GetCustomer(customer: string) -> (customer: Customer)\n" \
"\n" \
"# Every customer by id, or those of one salesperson.\n" \
"method ListCustomers(salesperson: ?string) -> (customers: []CustomerSummary)\n" \
"\n" \
"# Signs a customer up (or replaces one signed up this way): definition has the keys\n" \
"# of a customer in orders.d/*.yaml (id, name, language, timezone, salesperson,\n" \
"# account, contacts, vat, payment_due, cancel_unpaid_after) and is validated exactly\n" \
"# like them; it is kept across restarts like a standing order placed through the API,\n" \
"# and a standing order may name it at once. A customer of the files is DefinedInFile.\n" \
"# idempotency_key as in io.standingd.Orders (a reused key is its IdempotencyKeyReused).\n" \
"method PlaceCustomer(definition: object, idempotency_key: ?string) -> (customer: string)\n" \
"\n" \
"# Logs a visit, call, e-mail, meeting or note with the caller as author; at defaults to\n" \
"# now and may not be after it. summary (and contact) are text without control\n" \
"# characters, summary 1..2000 bytes.\n" \
"method LogInteraction(customer: string, kind: string, contact: ?string, summary: string, at: ?string) -> (interaction: Interaction)\n" \
"\n" \
"# A customer's log with at in [from, to), oldest first (from and to: instants, or\n" \
"# dates at midnight in the customer's zone; each optional). With \"more\", in replies\n" \
"# of at most 100.\n" \
"method ListInteractions(customer: string, from: ?string, to: ?string) -> (interactions: []Interaction)\n" \
"\n" \
"# Tasks by due, filtered: assignee (a salesperson's id), mine (the caller's own:\n" \
"# salespeople only), status (open by default; all for every status), due_before (an\n" \
"# instant), customer. With \"more\", in replies of at most 100.\n" \
"method ListTasks(assignee: ?string, mine: ?bool, status: ?string, due_before: ?string, customer: ?string) -> (tasks: []Task)\n" \
"\n" \
"# Marks an open task done, with an optional note (also logged as a note interaction).\n" \
"method CompleteTask(task: string, note: ?string) -> (task: Task)\n" \
"\n" \
"# Moves an open task's due to until (after now); it alerts again then.\n" \
"method SnoozeTask(task: string, until: string) -> (task: Task)\n" \
"\n" \
"# A task set by hand, due at due (an instant, or a date at midnight in the customer's\n" \
"# zone). assignee defaults to the customer's salesperson, else the calling salesperson.\n" \
"method AddTask(customer: string, due: string, text: string, assignee: ?string) -> (task: Task)\n" \
"\n" \
"error CustomerNotFound (customer: string)\n" \
"error SalespersonNotFound (salesperson: string)\n" \
"error TaskNotFound (task: string)\n" \
"\n" \
"# CompleteTask or SnoozeTask of a task that is done or cancelled.\n" \
"error TaskNotOpen (task: string, status: string)\n" \
"\n" \
"error InvalidDefinition (errors: []FieldError)\n" \
"error DefinedInFile (customer: string, file: string, line: int)\n" \
"\n" \
"# More match than one call without \"more\" returns.\n" \
"error TooManyTasks (limit: int)\n" \
"error TooManyInteractions (limit: int)\n"
