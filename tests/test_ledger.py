"""The subscription ledger (SPEC 3), one business case per row, worked out by hand.

Every expected figure below was computed from the SPEC with a calendar, not by running the
code; the arithmetic is in the comment beside each case. Fees are 4.00 (400 cents) a month
and the surcharge is 1.00 unless a case says otherwise. Calendar facts used throughout:
2023-12-31 Sun (December 2023 bills Fri 12-29), 2024-01-31 Wed, 2024-02-29 Thu,
2024-03-31 Sun (bills Fri 03-29), 2024-04-30 Tue, 2024-05-31 Fri, 2024-06-30 Sun (bills
Fri 06-28), 2024-07-31 Wed, 2024-08-31 Sat (bills Fri 08-30).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import NamedTuple

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from followup_cli.core import billing_calendar
from followup_cli.core import oracle as reference
from followup_cli.core.ledger import LedgerSettings, accounts, charges
from tests.conftest import SAMPLE, reconcile_rows

D = dt.date.fromisoformat
FEE = 400
ACCOUNT_COLUMNS = [
    "account_status",
    "balance_cents",
    "past_due_cents",
    "oldest_unpaid_on",
    "days_in_arrears",
]


def subscription(
    purchase: str, fee: int | None = FEE, end: str | None = None, agreement_id: str = "A-1"
) -> dict[str, object]:
    return {
        "cust_idx": 0,
        "agreement_id": agreement_id,
        "purchase_date": D(purchase),
        "monthly_fee": fee,
        "end_date": None if end is None else D(end),
    }


def payment(paid_on: str, amount: int, kind: str) -> dict[str, object]:
    return {
        "cust_idx": 0,
        "payment_id": f"P-{paid_on}",
        "paid_on": D(paid_on),
        "amount": amount,
        "kind": kind,
    }


def one_off(paid_on: str, amount: int) -> dict[str, object]:
    return payment(paid_on, amount, "one-off")


def recurring(paid_on: str, amount: int) -> dict[str, object]:
    return payment(paid_on, amount, "recurring")


def frames(
    agreements: list[dict[str, object]], payments: list[dict[str, object]]
) -> tuple[pl.DataFrame, pl.DataFrame]:
    agreement_schema = {
        "cust_idx": pl.UInt32,
        "agreement_id": pl.String,
        "purchase_date": pl.Date,
        "monthly_fee": pl.Int64,
        "end_date": pl.Date,
    }
    payment_schema = {
        "cust_idx": pl.UInt32,
        "payment_id": pl.String,
        "paid_on": pl.Date,
        "amount": pl.Int64,
        "kind": pl.String,
    }
    return (
        pl.DataFrame(agreements, schema=agreement_schema),
        pl.DataFrame(payments, schema=payment_schema),
    )


class Case(NamedTuple):
    rule: str  # the one-line statement of the business rule this row pins down
    agreements: list[dict[str, object]]
    payments: list[dict[str, object]]
    as_of: str
    status: str
    balance: int
    past_due: int
    oldest_unpaid_on: str | None
    days: int | None
    surcharge: int = 100


CASES = [
    # June bills Fri 06-28. 07-05 - 06-28 = 7 days. Due by 07-05: June 400, nothing paid.
    Case(
        "A charge 7 days unpaid is still Due.",
        [subscription("2024-06-01")], [], "2024-07-05",
        "Due", -400, 400, "2024-06-28", 7,
    ),
    # As above one day later: 8 days > 7.
    Case(
        "A charge 8 days unpaid is Warning.",
        [subscription("2024-06-01")], [], "2024-07-06",
        "Warning", -400, 400, "2024-06-28", 8,
    ),
    # Due by 08-27: June 06-28 + July 07-31 = 800 (August bills 08-30). 06-28 + 2 months =
    # 08-28 > 08-27, so not Disabled; days = 2 (to 06-30) + 31 + 27 = 60 > 7.
    Case(
        "The day before two calendar months in arrears is still Warning.",
        [subscription("2024-06-01")], [], "2024-08-27",
        "Warning", -800, 800, "2024-06-28", 60,
    ),
    # 08-28 >= 06-28 + 2 months = 08-28; days = 61; still 800 due (August bills 08-30).
    Case(
        "Two calendar months in arrears to the day is Disabled.",
        [subscription("2024-06-01")], [], "2024-08-28",
        "Disabled", -800, 800, "2024-06-28", 61,
    ),
    # Bought Sun 2023-12-31, after December's billing date (Fri 12-29): December due 12-31.
    # By 02-28: December 12-31 + January 01-31 = 800; February bills Thu 02-29, not yet.
    # 12-31 + 2 months clips to 2024-02-29 > 02-28: not Disabled. Days = 31 + 28 = 59.
    Case(
        "2023-12-31 + 2 months is 2024-02-29, so 2024-02-28 is still Warning.",
        [subscription("2023-12-31")], [], "2024-02-28",
        "Warning", -800, 800, "2023-12-31", 59,
    ),
    # By 02-29: December + January + February (due today) = 1200; past due excludes
    # February's 400, due today: 800. Days = 31 + 29 = 60. 02-29 >= 02-29: Disabled.
    Case(
        "2023-12-31 + 2 months clips to 2024-02-29, the day it is Disabled.",
        [subscription("2023-12-31")], [], "2024-02-29",
        "Disabled", -1200, 800, "2023-12-31", 60,
    ),
    # June bills Fri 06-28 = A: 400 due, 0 past due (not strictly before A), 0 days.
    Case(
        "A charge due today is due but not past due.",
        [subscription("2024-06-01")], [], "2024-06-28",
        "Due", -400, 0, "2024-06-28", 0,
    ),
    # Charges: surcharge 100 (06-01) + June 400 (06-28) + July 400 (07-31) = 900.
    # Credits 2000. Balance 2000 - 900 = +1100, nothing unpaid.
    Case(
        "A balance in credit is Paid in Full.",
        [subscription("2024-06-01")], [one_off("2024-06-01", 2000)], "2024-07-31",
        "Paid in Full", 1100, 0, None, None,
    ),
    # Bought Sat 06-29, after June's billing date (Fri 06-28): June's 400 is due 06-29 = A,
    # so nothing is past due and 0 days (had it been due 06-28, 400 would be past due).
    Case(
        "Bought on a weekend after the billing date, the month falls due on purchase.",
        [subscription("2024-06-29")], [], "2024-06-29",
        "Due", -400, 0, "2024-06-29", 0,
    ),
    # End 05-15: March 03-29 + April 04-30 + May 05-31 = 1200 (May billed in full; June and
    # July not billed). Credits 1200. Balance 0.
    Case(
        "The end_date's month is the last month billed.",
        [subscription("2024-03-01", end="2024-05-15")], [recurring("2024-05-31", 1200)],
        "2024-07-31",
        "Paid in Full", 0, 0, None, None,
    ),
    # Surcharge 100 (06-01) + June 400 + July 400 = 900 = the one-off 9.00. Balance 0.
    Case(
        "A one-off payment of 9.00 pays 8.00 of fees and the 1.00 surcharge.",
        [subscription("2024-06-01")], [one_off("2024-06-01", 900)], "2024-07-31",
        "Paid in Full", 0, 0, None, None,
    ),
    # Surcharge 250 (06-01) + June 400 (06-28) + July 400 (07-31) = 1050; credits 900;
    # balance -150. Oldest first: 900 - 250 - 400 = 250 left for July: 150 of July unpaid.
    # Past due: charges before 07-31 = 650 <= 900, so 0.
    Case(
        "The surcharge setting changes the charge per one-off payment (2.50 here).",
        [subscription("2024-06-01")], [one_off("2024-06-01", 900)], "2024-07-31",
        "Due", -150, 0, "2024-07-31", 0, surcharge=250,
    ),
    # No surcharge: June 400 + July 400 = 800; credits 900; balance +100.
    Case(
        "A surcharge set to 0.00 adds nothing to a one-off payment.",
        [subscription("2024-06-01")], [one_off("2024-06-01", 900)], "2024-07-31",
        "Paid in Full", 100, 0, None, None, surcharge=0,
    ),
    # By 07-15: only the surcharge 100 (07-10); July bills 07-31. Credits 50; balance -50;
    # 50 past due (07-10 < 07-15); 5 days.
    Case(
        "A one-off payment smaller than the surcharge leaves the customer owing.",
        [subscription("2024-07-01")], [one_off("2024-07-10", 50)], "2024-07-15",
        "Due", -50, 50, "2024-07-10", 5,
    ),
    # April 04-30, May 05-31, June 06-28, July 07-31 = 1600; the 400 paid on 07-30 settles
    # April, the oldest. Balance -1200; oldest unpaid May 05-31; 05-31 + 2 months = 07-31
    # <= A: Disabled. Days 61. Past due: 1200 due before A - 400 = 800.
    Case(
        "Credits settle the oldest charge first, whenever they were paid.",
        [subscription("2024-04-01")], [recurring("2024-07-30", 400)], "2024-07-31",
        "Disabled", -1200, 800, "2024-05-31", 61,
    ),
    # 4.00 from June: June 400 (06-28) + July 400 (07-31); 30.00 from Sat 07-13: July 3000
    # (07-31). Charges 3800; credits 400 settle June; balance -3400, oldest 07-31, 0 days.
    Case(
        "Every recurring agreement of a customer charges its own fee.",
        [
            subscription("2024-06-01"),
            subscription("2024-07-13", fee=3000, agreement_id="A-2"),
            subscription("2024-01-01", fee=None, agreement_id="A-3"),  # a class pack
        ],
        [recurring("2024-06-28", 400)], "2024-07-31",
        "Due", -3400, 0, "2024-07-31", 0,
    ),
    # Bought 07-10, July bills 07-31: nothing due yet by 07-15. Balance 0.
    Case(
        "A subscription with nothing due yet is Paid in Full.",
        [subscription("2024-07-10")], [], "2024-07-15",
        "Paid in Full", 0, 0, None, None,
    ),
    # 0.00 a month: charges of 0 are never unpaid. Balance 0.
    Case(
        "A zero monthly fee is never owed.",
        [subscription("2024-01-01", fee=0)], [], "2024-07-31",
        "Paid in Full", 0, 0, None, None,
    ),
]  # fmt: skip


def expected_account(case: Case) -> pl.DataFrame:
    oldest = None if case.oldest_unpaid_on is None else D(case.oldest_unpaid_on)
    return pl.DataFrame(
        [
            {
                "account_status": case.status,
                "balance_cents": case.balance,
                "past_due_cents": case.past_due,
                "oldest_unpaid_on": oldest,
                "days_in_arrears": case.days,
            }
        ],
        schema={
            "account_status": pl.String,
            "balance_cents": pl.Int64,
            "past_due_cents": pl.Int64,
            "oldest_unpaid_on": pl.Date,
            "days_in_arrears": pl.Int64,
        },
    )


@pytest.mark.parametrize("case", CASES, ids=[case.rule for case in CASES])
def test_account(case: Case) -> None:
    """Each row's rule holds on the vectorised ledger (the figures were worked by hand)."""
    agreements, payments = frames(case.agreements, case.payments)
    settings = LedgerSettings(surcharge_cents=case.surcharge)
    got = accounts(agreements.lazy(), payments.lazy(), D(case.as_of), settings).collect()
    assert_frame_equal(got.select(ACCOUNT_COLUMNS), expected_account(case))


@pytest.mark.parametrize("case", CASES, ids=[case.rule for case in CASES])
def test_account_reference(case: Case) -> None:
    """The same hand-worked rows hold on the slow reference (the customer account aggregate)."""
    agreements, payments = frames(case.agreements, case.payments)
    got = reference.reference_accounts(agreements, payments, D(case.as_of), case.surcharge)
    assert_frame_equal(got.select(ACCOUNT_COLUMNS), expected_account(case))


def test_no_monthly_fee_no_ledger() -> None:
    """A customer whose agreements have no monthly fee has no account row at all."""
    agreements, payments = frames(
        [subscription("2024-01-01", fee=None)], [one_off("2024-02-01", 900)]
    )
    got = accounts(agreements.lazy(), payments.lazy(), D("2024-07-31"), LedgerSettings())
    assert got.collect().height == 0
    assert reference.reference_accounts(agreements, payments, D("2024-07-31")).height == 0


# Month (any day in it) -> its billing date, the last Monday-to-Friday.
BILLING_DATES = [
    ("2024-03-10", "2024-03-29"),  # 03-31 is a Sunday: the Friday before
    ("2024-06-01", "2024-06-28"),  # 06-30 is a Sunday
    ("2024-02-15", "2024-02-29"),  # leap year; 02-29 is a Thursday
    ("2020-02-29", "2020-02-28"),  # leap day on a Saturday
    ("2023-12-31", "2023-12-29"),  # 12-31 is a Sunday
    ("2024-08-31", "2024-08-30"),  # 08-31 is a Saturday
    ("2024-07-01", "2024-07-31"),  # 07-31 is a Wednesday
    ("2024-05-31", "2024-05-31"),  # 05-31 is a Friday
    ("2023-02-01", "2023-02-28"),  # not a leap year; 02-28 is a Tuesday
]


def test_billing_date_expression() -> None:
    """A month bills on its last day if Monday to Friday, else on the Friday before it."""
    days = pl.DataFrame({"day": [D(day) for day, _ in BILLING_DATES]}, schema={"day": pl.Date})
    got = days.select(
        billing_calendar.billing_date(billing_calendar.month_number(pl.col("day"))).alias("bills")
    )
    expected = pl.DataFrame({"bills": [D(bills) for _, bills in BILLING_DATES]})
    assert_frame_equal(got, expected)


@pytest.mark.parametrize(("day", "bills"), BILLING_DATES)
def test_reference_billing_date(day: str, bills: str) -> None:
    """The reference's dateutil rule gives the same billing dates."""
    assert reference.billing_date(D(day).year, D(day).month) == D(bills)


def test_add_months_clips_to_month_end() -> None:
    """Two calendar months later, clipped at the month's end (2023-12-31 -> 2024-02-29)."""
    pairs = [
        ("2023-12-31", "2024-02-29"),
        ("2023-12-29", "2024-02-29"),
        ("2022-12-31", "2023-02-28"),
        ("2024-01-31", "2024-03-31"),
        ("2024-07-31", "2024-09-30"),
        ("2024-06-28", "2024-08-28"),
    ]
    days = pl.DataFrame({"day": [D(day) for day, _ in pairs]})
    got = days.select(billing_calendar.add_months(pl.col("day"), 2).alias("later"))
    assert_frame_equal(got, pl.DataFrame({"later": [D(later) for _, later in pairs]}))


def test_charges_for_a_weekend_purchase() -> None:
    """Bought Sat 2024-06-29: June falls due that day, July on its billing date (Wed 07-31)."""
    agreements, payments = frames([subscription("2024-06-29")], [one_off("2024-07-02", 900)])
    got = (
        charges(agreements.lazy(), payments.lazy(), D("2024-07-31"), LedgerSettings())
        .select("due_on", "cents")
        .sort("due_on", "cents")
        .collect()
    )
    expected = pl.DataFrame(
        {
            "due_on": [D("2024-06-29"), D("2024-07-02"), D("2024-07-31")],
            "cents": [400, 100, 400],  # June's fee, the one-off's surcharge, July's fee
        }
    )
    assert_frame_equal(got, expected)


def test_story_customers_from_the_sample_exports() -> None:
    """The sample exports give issue 3's table for the five story customers on 2024-07-31."""
    got = (
        reconcile_rows(SAMPLE)
        .filter(pl.col("customer_id").is_in(["C-1", "C-2", "C-3", "C-4", "C-5"]))
        .select(
            "customer_id",
            "account_status",
            "balance",
            "past_due",
            "oldest_unpaid_on",
            "days_in_arrears",
        )
    )
    # C-1: 5 fees Mar-Jul 2000 + surcharge 100 = 2100; paid 900 + 400 + 400 = 1700; -400,
    #      July (07-31) unpaid, due today. C-2: 6 fees Feb-Jul 2400 + 100; paid 1300 + 1200
    #      = 2500; 0. C-3: 7 fees 2800 + 100; paid 3300; +400. C-4: July 400 due today.
    # C-5: Apr-Jul 1600; paid 800; April and May settled, June (Fri 06-28) oldest unpaid,
    #      31 - 28 = 3 + 30 = 33 days; past due: 1200 due before A - 800 = 400.
    expected = pl.DataFrame(
        {
            "customer_id": ["C-1", "C-2", "C-3", "C-4", "C-5"],
            "account_status": ["Due", "Paid in Full", "Paid in Full", "Due", "Warning"],
            "balance": [Decimal("-4.00"), Decimal("0.00"), Decimal("4.00"), Decimal("-4.00"),
                        Decimal("-8.00")],
            "past_due": [Decimal("0.00")] * 4 + [Decimal("4.00")],
            "oldest_unpaid_on": [D("2024-07-31"), None, None, D("2024-07-31"), D("2024-06-28")],
            "days_in_arrears": [0, None, None, 0, 33],
        },
        schema_overrides={"balance": pl.Decimal(18, 2), "past_due": pl.Decimal(18, 2)},
    )  # fmt: skip
    assert_frame_equal(got, expected, check_dtypes=False)


def test_surcharge_setting_through_the_core(exports: Callable[..., Path]) -> None:
    """The surcharge setting reaches the ledger of a whole run: 9.00 one-off with 2.50 owes 1.50."""
    folder = exports(
        customers=["C-1,Ann,web,2024-05-01"],
        agreements=["A-1,C-1,2024-06-01,,,active,,4.00,"],
        payments=["P-1,C-1,2024-06-01,9.00,one-off"],
    )
    # 250 + 400 (06-28) + 400 (07-31) = 1050 charged, 900 paid: owes 1.50 of July, due today.
    row = reconcile_rows(folder, settings=LedgerSettings(surcharge_cents=250)).row(0, named=True)
    assert (row["account_status"], row["balance"], row["past_due"]) == (
        "Due",
        Decimal("-1.50"),
        Decimal("0.00"),
    )
    assert row["oldest_unpaid_on"] == D("2024-07-31")
