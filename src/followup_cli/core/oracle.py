"""The subscription ledger as a customer account aggregate: the story's domain model.

SPEC 3 told the way the customerSubscription story asks for it (seeds/003): a `CustomerAccount`
aggregate whose state changes only inside its event handlers, one handler per event, replayed
one customer at a time in plain Python with integer cents. It shares no code with `ledger.py`,
`account_status.py` or `billing_calendar.py` (months and billing dates come from
python-dateutil here), so the property tests compare two independent readings of the rules.

Who uses it: `followup explain` tells one person's ledger as this aggregate's events
(`CustomerAccount.story`); the tests use it as the oracle of the vectorised ledger; the
benchmark times it. The reconcile run never loops over people, so it never runs this.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass
from functools import cache
from typing import assert_never

import polars as pl
from dateutil.relativedelta import relativedelta
from dateutil.rrule import FR, MO, MONTHLY, TH, TU, WE, rrule

from followup_cli.core import account_status, ledger
from followup_cli.core.rules_file import AccountRules
from followup_cli.core.schema import CUST

# The spec's words and numbers (status names, the 7 days, the 2 months, the default
# surcharge) are defined once, in account_status.py and ledger.py; the arithmetic on them
# here is independent.
PAID_IN_FULL, DUE, WARNING, DISABLED = account_status.ACCOUNT_STATUSES
DEFAULT_SURCHARGE_CENTS = ledger.LedgerSettings().surcharge_cents
WEEKDAYS = (MO, TU, WE, TH, FR)


# Events: facts that happened to one customer's account.


@dataclass(frozen=True)
class SubscriptionStarted:
    agreement_id: str
    purchase_date: dt.date
    monthly_fee_cents: int
    end_date: dt.date | None = None  # the last month billed is this date's month


@dataclass(frozen=True)
class OneOffPaymentMade:
    payment_id: str
    paid_on: dt.date
    amount_cents: int


@dataclass(frozen=True)
class RecurringPaymentMade:
    payment_id: str
    paid_on: dt.date
    amount_cents: int


@dataclass(frozen=True)
class AccountReconciled:
    as_of: dt.date  # the world as it stood at the end of this day


Event = SubscriptionStarted | OneOffPaymentMade | RecurringPaymentMade | AccountReconciled
Payment = OneOffPaymentMade | RecurringPaymentMade


# Value objects of the ledger.


@dataclass(frozen=True)
class Charge:
    due_on: dt.date
    cents: int
    what: str


@dataclass(frozen=True)
class SettledCharge:
    charge: Charge
    unpaid_cents: int  # the part the credits did not reach


@dataclass(frozen=True)
class ChargeDue:
    """A charge that fell due by the reconciliation date: raised by the account as it
    reconciles, never sent to it; with what the credits left unpaid of it (oldest first)."""

    due_on: dt.date
    cents: int
    what: str
    unpaid_cents: int


# One account's story in date order: what it was told, the charges it found due, and last
# the reconciliation itself.
StoryEvent = SubscriptionStarted | OneOffPaymentMade | RecurringPaymentMade | ChargeDue


def billing_dates(first: dt.date, last: dt.date) -> tuple[dt.date, ...]:
    """The billing date (last Monday-to-Friday) of every month from first's through last's."""
    return _billing_dates(first.replace(day=1), last.replace(day=1))


@cache  # the benchmark replays many customers over the same few months
def _billing_dates(first_month: dt.date, last_month: dt.date) -> tuple[dt.date, ...]:
    rule = rrule(
        MONTHLY,
        dtstart=first_month,
        until=last_month + relativedelta(day=31),  # day=31: the month's last day, whatever it is
        byweekday=WEEKDAYS,
        bysetpos=-1,  # the last of the month's weekdays
    )
    return tuple(moment.date() for moment in rule)


def billing_date(year: int, month: int) -> dt.date:
    """One month's billing date (2024-03 ends on Sunday the 31st, so it bills on the 29th)."""
    (date,) = billing_dates(dt.date(year, month, 1), dt.date(year, month, 1))
    return date


class CustomerAccount:
    """One customer's subscription account (the aggregate root).

    State changes only in the `_when_*` handlers, reached through `on(event)`; everything
    else reads. Facts are kept as they arrive; `AccountReconciled(as_of)` works out the ledger
    as it stood at the end of that day, ignoring what was bought or paid after it.
    """

    def __init__(
        self,
        surcharge_cents: int = DEFAULT_SURCHARGE_CENTS,
        thresholds: AccountRules = account_status.DEFAULT_ACCOUNT,
    ) -> None:
        self._surcharge_cents = surcharge_cents
        # A rules file's thresholds (SPEC 11); the defaults are SPEC 3's 7 days and 2 months.
        self._warning_after_days = thresholds.warning_after_days
        self._disabled_after = relativedelta(months=thresholds.disabled_after_months)
        self._subscriptions: list[SubscriptionStarted] = []
        self._payments: list[Payment] = []
        self._as_of: dt.date | None = None
        self._subscribed = False
        self._credits_cents = 0
        self._ledger: tuple[SettledCharge, ...] = ()

    def on(self, event: Event) -> None:
        """Apply one event: the only way this account's state changes."""
        match event:
            case SubscriptionStarted():
                self._when_subscription_started(event)
            case OneOffPaymentMade():
                self._when_one_off_payment_made(event)
            case RecurringPaymentMade():
                self._when_recurring_payment_made(event)
            case AccountReconciled():
                self._when_account_reconciled(event)
            case _:
                assert_never(event)

    # Handlers.

    def _when_subscription_started(self, event: SubscriptionStarted) -> None:
        self._subscriptions.append(event)

    def _when_one_off_payment_made(self, event: OneOffPaymentMade) -> None:
        self._payments.append(event)

    def _when_recurring_payment_made(self, event: RecurringPaymentMade) -> None:
        self._payments.append(event)

    def _when_account_reconciled(self, event: AccountReconciled) -> None:
        as_of = event.as_of
        subscriptions = [s for s in self._subscriptions if s.purchase_date <= as_of]
        payments = [p for p in self._payments if p.paid_on <= as_of]
        charges = [
            *(c for s in subscriptions for c in self._fees(s, as_of)),
            *(self._surcharge(p) for p in payments if isinstance(p, OneOffPaymentMade)),
        ]
        due = sorted((c for c in charges if c.due_on <= as_of), key=lambda c: c.due_on)
        credits_cents = sum(p.amount_cents for p in payments)

        # Oldest first: the credits pay each charge in due-date order until they run out.
        left = credits_cents
        ledger = []
        for charge in due:
            paid = min(left, charge.cents)
            left -= paid
            ledger.append(SettledCharge(charge, unpaid_cents=charge.cents - paid))

        self._as_of = as_of
        self._subscribed = bool(subscriptions)
        self._credits_cents = credits_cents
        self._ledger = tuple(ledger)

    @staticmethod
    def _fees(subscription: SubscriptionStarted, as_of: dt.date) -> list[Charge]:
        """A fee for every month from the purchase month through the end month (or as_of's)."""
        # Months after as_of's are not due yet, so the run stops there even if end_date is later.
        last = min(subscription.end_date or as_of, as_of)
        return [
            Charge(
                # Bought after the month's billing date (a weekend month end): due on purchase.
                due_on=max(billing_day, subscription.purchase_date),
                cents=subscription.monthly_fee_cents,
                what=f"fee for {billing_day:%B %Y} (agreement {subscription.agreement_id})",
            )
            for billing_day in billing_dates(subscription.purchase_date, last)
        ]

    def _surcharge(self, payment: OneOffPaymentMade) -> Charge:
        return Charge(
            payment.paid_on,
            self._surcharge_cents,
            f"surcharge for one-off payment {payment.payment_id}",
        )

    # Reads.

    def _reconciled_as_of(self) -> dt.date:
        if self._as_of is None:
            raise RuntimeError("the account has not been reconciled: send AccountReconciled first")
        return self._as_of

    def story(self) -> tuple[StoryEvent | AccountReconciled, ...]:
        """The account's events up to the reconciliation date, in date order: subscriptions
        started and payments made (on their day), charges due, then `AccountReconciled`.

        On one day a purchase comes first, then payments, then the charges they meet.
        """
        as_of = self._reconciled_as_of()
        told: list[tuple[dt.date, int, StoryEvent]] = [
            *((s.purchase_date, 0, s) for s in self._subscriptions if s.purchase_date <= as_of),
            *((p.paid_on, 1, p) for p in self._payments if p.paid_on <= as_of),
            *(
                (
                    line.charge.due_on,
                    2,
                    ChargeDue(**vars(line.charge), unpaid_cents=line.unpaid_cents),
                )
                for line in self.ledger()
            ),
        ]
        ordered = sorted(told, key=lambda item: (item[0], item[1]))
        return (*(event for _day, _kind, event in ordered), AccountReconciled(as_of))

    def has_subscription(self) -> bool:
        """Whether a subscription had started by the reconciliation date (it has a ledger)."""
        self._reconciled_as_of()
        return self._subscribed

    def ledger(self) -> tuple[SettledCharge, ...]:
        """Every charge due by the reconciliation date, oldest first, with what is unpaid."""
        self._reconciled_as_of()
        return self._ledger

    def balance_cents(self) -> int:
        """Credits minus charges due: positive is money in credit, negative is owed."""
        return self._credits_cents - sum(line.charge.cents for line in self.ledger())

    def oldest_unpaid(self) -> SettledCharge | None:
        return next((line for line in self.ledger() if line.unpaid_cents > 0), None)

    def oldest_unpaid_on(self) -> dt.date | None:
        oldest = self.oldest_unpaid()
        return None if oldest is None else oldest.charge.due_on

    def past_due_cents(self) -> int:
        """What is unpaid of the charges due strictly before the day (due today is not past)."""
        as_of = self._reconciled_as_of()
        return sum(line.unpaid_cents for line in self.ledger() if line.charge.due_on < as_of)

    def days_in_arrears(self) -> int | None:
        oldest_on = self.oldest_unpaid_on()
        return None if oldest_on is None else (self._reconciled_as_of() - oldest_on).days

    def account_status(self) -> str:
        """SPEC 3's statuses, first match wins."""
        as_of = self._reconciled_as_of()
        oldest_on = self.oldest_unpaid_on()
        days = self.days_in_arrears()
        if self.balance_cents() >= 0 or oldest_on is None or days is None:
            return PAID_IN_FULL
        if as_of >= oldest_on + self._disabled_after:
            return DISABLED
        if days > self._warning_after_days:
            return WARNING
        return DUE


ACCOUNT_SCHEMA = pl.Schema(
    {
        "balance_cents": pl.Int64,
        "past_due_cents": pl.Int64,
        "oldest_unpaid_on": pl.Date,
        "days_in_arrears": pl.Int64,
        "account_status": pl.String,
    }
)


def reference_accounts(
    agreements: pl.DataFrame,
    payments: pl.DataFrame,
    as_of: dt.date,
    surcharge_cents: int = DEFAULT_SURCHARGE_CENTS,
) -> pl.DataFrame:
    """Replay every customer's events through a `CustomerAccount`, one row per subscriber.

    The same columns as `ledger.accounts` (without its reason), sorted by customer. Rows
    after as_of may be passed in: the account itself leaves them out.
    """
    accounts = replay(agreements, payments, as_of, surcharge_cents)
    rows = []
    for cust in sorted(accounts):
        account = accounts[cust]
        if account.has_subscription():
            rows.append(
                (
                    cust,
                    account.balance_cents(),
                    account.past_due_cents(),
                    account.oldest_unpaid_on(),
                    account.days_in_arrears(),
                    account.account_status(),
                )
            )
    schema = pl.Schema({CUST: agreements.schema[CUST], **ACCOUNT_SCHEMA})
    return pl.DataFrame(rows, schema=schema, orient="row")


def replay(
    agreements: pl.DataFrame,
    payments: pl.DataFrame,
    as_of: dt.date,
    surcharge_cents: int = DEFAULT_SURCHARGE_CENTS,
    thresholds: AccountRules = account_status.DEFAULT_ACCOUNT,
) -> dict[int, CustomerAccount]:
    """Each customer's account (by cust_idx), told its subscriptions and payments in file
    order and reconciled as of `as_of`. Only people with a subscription or a payment appear."""
    accounts: defaultdict[int, CustomerAccount] = defaultdict(
        lambda: CustomerAccount(surcharge_cents, thresholds)
    )
    agreement_rows = agreements.select(
        CUST, "agreement_id", "purchase_date", "monthly_fee", "end_date"
    ).iter_rows()
    for cust, agreement_id, purchase_date, monthly_fee, end_date in agreement_rows:
        if monthly_fee is not None:  # only an agreement with a monthly fee is a subscription
            started = SubscriptionStarted(agreement_id, purchase_date, monthly_fee, end_date)
            accounts[cust].on(started)
    payment_rows = payments.select(CUST, "payment_id", "paid_on", "amount", "kind").iter_rows()
    for cust, payment_id, paid_on, amount, kind in payment_rows:
        made = OneOffPaymentMade if kind == "one-off" else RecurringPaymentMade
        accounts[cust].on(made(payment_id, paid_on, amount))
    for account in accounts.values():
        account.on(AccountReconciled(as_of))
    return dict(accounts)
