"""Follow-up status (SPEC 4), the story's acceptance criterion: one business case per status.

Every case is one person, C-1, created 2024-01-01, reconciled as of 2024-07-31 (a Wednesday)
unless the case says otherwise. Expected values are worked out by hand from SPEC 4 (and
SPEC 3 for money); the reason texts follow the templates in `followup.py`, with the deciding
record filled in by hand.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from followup_cli.core import follow_up_tables as followup
from tests.conftest import AS_OF, reconcile_rows

Exports = Callable[..., Path]
LABELS = ("customer_id", "customer_type", "follow_up_status", "reason")


def customer(cid: str = "C-1", *, origin: str = "", created: str = "2024-01-01") -> str:
    return f"{cid},Person {cid},{origin},{created}"


def agreement(
    aid: str,
    status: str,
    *,
    purchased: str = "2024-01-05",
    quantity: str = "",
    left: str = "",
    alert: str = "",
    fee: str = "",
    end: str = "",
    cid: str = "C-1",
) -> str:
    return f"{aid},{cid},{purchased},{quantity},{left},{status},{alert},{fee},{end}"


def payment(pid: str, paid_on: str, amount: str, kind: str, *, cid: str = "C-1") -> str:
    return f"{pid},{cid},{paid_on},{amount},{kind}"


def event(eid: str, starts_at: str, outcome: str, *, kind: str = "trial", cid: str = "C-1") -> str:
    return f"{eid},{cid},{starts_at},{kind},{outcome}"


# A subscription that is 4.00 past due on 2024-07-31 (SPEC 3), shared by the money cases:
# a 10.00 monthly fee bought 2024-06-01 charges June, due on June's billing date 2024-06-28
# (the 30th is a Sunday, so the Friday before), and July, due 2024-07-31 (a Wednesday): due
# today, so not yet past due. One one-off payment of 7.00 on 2024-07-10 credits 7.00 and adds
# a 1.00 surcharge due 2024-07-10. Charges due strictly before A: 10.00 + 1.00 = 11.00; credits
# 7.00 settle the oldest first (June), so 11.00 - 7.00 = 4.00 is past due, and the oldest
# charge not fully settled is June's, due 2024-06-28.
OWING_PAYMENT = payment("P-1", "2024-07-10", "7.00", "one-off")
PAST_DUE_REASON = "past due 4.00 since 2024-06-28"


def owing(aid: str, status: str) -> str:
    """A 10.00-a-month agreement from 2024-06-01: with OWING_PAYMENT, 4.00 past due."""
    return agreement(aid, status, purchased="2024-06-01", fee="10.00")


@dataclass(frozen=True)
class Case:
    rule: str
    customer_type: str
    status: str
    reason: str
    agreements: tuple[str, ...] = ()
    payments: tuple[str, ...] = ()
    events: tuple[str, ...] = ()
    origin: str = ""
    as_of: dt.date = AS_OF
    past_due: str | None = None  # the ledger figure the case relies on, checked as well


def cases(*items: Case) -> list[object]:
    return [pytest.param(item, id=item.rule) for item in items]


def labels(exports: Exports, case: Case) -> pl.DataFrame:
    folder = exports(
        customers=[customer(origin=case.origin)],
        agreements=case.agreements,
        payments=case.payments,
        events=case.events,
    )
    return reconcile_rows(folder, case.as_of)


def check(exports: Exports, case: Case) -> None:
    output = labels(exports, case)
    expected = pl.DataFrame(
        {
            "customer_id": ["C-1"],
            "customer_type": [case.customer_type],
            "follow_up_status": [case.status],
            "reason": [case.reason],
        }
    )
    assert_frame_equal(output.select(LABELS), expected)
    if case.past_due is not None:
        assert output.get_column("past_due").to_list() == [Decimal(case.past_due)]


CUSTOMER_CASES = (
    Case(
        "1 collections: any agreement in collections",
        "Customer",
        followup.COLLECTIONS,
        "collections: agreement A-17",
        agreements=(agreement("A-17", "collections"),),
    ),
    Case(
        "2 delinquent: the ledger's past_due is more than 0",
        "Customer",
        followup.DELINQUENT,
        PAST_DUE_REASON,
        agreements=(owing("A-1", "active"),),
        payments=(OWING_PAYMENT,),
        past_due="4.00",
    ),
    Case(
        "3 suspended: any agreement suspended",
        "Customer",
        followup.SUSPENDED,
        "suspended: agreement A-1",
        agreements=(agreement("A-1", "suspended"),),
    ),
    Case(
        "4 active: an active agreement with no session quantity (unlimited)",
        "Customer",
        followup.ACTIVE,
        "active agreement A-1",
        agreements=(agreement("A-1", "active"),),
    ),
    Case(
        "5 renewal: an active 1-session purchase with 1 session left",
        "Customer",
        followup.RENEWAL,
        "1-session purchase A-9, 1 session left",
        agreements=(agreement("A-9", "active", quantity="1", left="1"),),
    ),
    Case(
        "6 drop-in: an active 1-session purchase with 0 sessions left",
        "Customer",
        followup.DROP_IN,
        "1-session purchase A-9, 0 sessions left",
        agreements=(agreement("A-9", "active", quantity="1", left="0"),),
    ),
    Case(
        "7 canceled: the latest inactive agreement has alert canceled",
        "Customer",
        followup.CANCELED,
        "latest inactive agreement A-4 alert canceled",
        agreements=(agreement("A-4", "inactive", alert="canceled"),),
    ),
    Case(
        "8 expired: the latest inactive agreement has alert expired",
        "Customer",
        followup.EXPIRED,
        "latest inactive agreement A-4 alert expired",
        agreements=(agreement("A-4", "inactive", alert="expired"),),
    ),
    Case(
        "9 unclassified: an inactive agreement without an alert",
        "Customer",
        followup.UNCLASSIFIED,
        "no rule matched: latest inactive agreement A-4 has no alert",
        agreements=(agreement("A-4", "inactive"),),
    ),
)

PROSPECT_CASES = (
    Case(
        "1 trial booked: an event after the as-of date",
        "Prospect",
        followup.TRIAL_BOOKED,
        "upcoming trial E-12 on 2024-08-02",
        events=(event("E-12", "2024-08-02", "scheduled"),),
    ),
    Case(
        "2 trial show: the most recent past event was attended",
        "Prospect",
        followup.TRIAL_SHOW,
        "latest past trial E-3 on 2024-07-20 attended",
        events=(event("E-3", "2024-07-20", "attended"),),
    ),
    Case(
        "3 trial no show: the most recent past event was a no-show",
        "Prospect",
        followup.TRIAL_NO_SHOW,
        "latest past trial E-3 on 2024-07-20 no-show",
        events=(event("E-3", "2024-07-20", "no-show"),),
    ),
    Case(
        "4 referral: no events, origin referral",
        "Prospect",
        followup.REFERRAL,
        "no events; origin referral",
        origin="referral",
    ),
    Case(
        "5 web lead: no events, origin web",
        "Prospect",
        followup.WEB_LEAD,
        "no events; origin web",
        origin="web",
    ),
    Case(
        "6 lead: no events, any other origin",
        "Prospect",
        followup.LEAD,
        "no events; origin walk-in",
        origin="walk-in",
    ),
)


@pytest.mark.parametrize("case", cases(*CUSTOMER_CASES))
def test_customer_status(exports: Exports, case: Case) -> None:
    """Each of the nine customer statuses fires on its own case and names its agreement."""
    check(exports, case)


@pytest.mark.parametrize("case", cases(*PROSPECT_CASES))
def test_prospect_status(exports: Exports, case: Case) -> None:
    """Each of the six prospect statuses fires on its own case and names its event or origin."""
    check(exports, case)


def test_every_status_has_a_case() -> None:
    """The two tables above cover every status of both rule tables, in the tables' order."""
    assert tuple(c.status for c in CUSTOMER_CASES) == followup.CUSTOMER_STATUSES
    assert tuple(c.status for c in PROSPECT_CASES) == followup.PROSPECT_STATUSES


def test_rule_tables_are_in_spec_order() -> None:
    """The precedence is SPEC 4's, row for row: first match wins, so order is the rule."""
    assert followup.CUSTOMER_STATUSES == (
        "Collections Customer",
        "Delinquent Customer",
        "Active Customer - Suspended",
        "Active Customer",
        "Renewal Opportunity",
        "Drop-In",
        "Canceled Customer",
        "Expired Customer",
        "Unclassified",
    )
    assert followup.PROSPECT_STATUSES == (
        "Trial Booked",
        "Trial Show - No Sale",
        "Trial No Show",
        "Referral",
        "Web Lead",
        "Lead",
    )


PRECEDENCE_CASES = (
    Case(
        "collections outranks a past-due balance",
        "Customer",
        followup.COLLECTIONS,
        "collections: agreement A-17",
        agreements=(owing("A-17", "collections"),),
        payments=(OWING_PAYMENT,),
        past_due="4.00",
    ),
    Case(
        "a past-due balance outranks a suspension",
        "Customer",
        followup.DELINQUENT,
        PAST_DUE_REASON,
        agreements=(owing("A-1", "suspended"),),
        payments=(OWING_PAYMENT,),
        past_due="4.00",
    ),
    Case(
        "a suspension outranks an active membership",
        "Customer",
        followup.SUSPENDED,
        "suspended: agreement A-1",
        agreements=(agreement("A-2", "active"), agreement("A-1", "suspended")),
    ),
    Case(
        "an active membership outranks an old expired agreement",
        "Customer",
        followup.ACTIVE,
        "active agreement A-2",
        agreements=(
            agreement("A-1", "inactive", purchased="2023-01-10", alert="expired"),
            agreement("A-2", "active", purchased="2024-02-01"),
        ),
    ),
    Case(
        "an active membership outranks a newer inactive canceled agreement",
        "Customer",
        followup.ACTIVE,
        "active agreement A-1",
        agreements=(
            agreement("A-1", "active", purchased="2023-01-10"),
            agreement("A-2", "inactive", purchased="2024-06-01", alert="canceled"),
        ),
    ),
    Case(
        "a current single session with 1 left outranks an expired membership: renewal",
        "Customer",
        followup.RENEWAL,
        "1-session purchase A-2, 1 session left",
        agreements=(
            agreement("A-1", "inactive", purchased="2023-01-10", alert="expired"),
            agreement("A-2", "active", purchased="2024-07-20", quantity="1", left="1"),
        ),
    ),
    Case(
        "a current single session with 0 left outranks an expired membership: drop-in",
        "Customer",
        followup.DROP_IN,
        "1-session purchase A-2, 0 sessions left",
        agreements=(
            agreement("A-1", "inactive", purchased="2023-01-10", alert="expired"),
            agreement("A-2", "active", purchased="2024-07-20", quantity="1", left="0"),
        ),
    ),
    Case(
        "a single session with 1 left outranks one with 0 left: renewal",
        "Customer",
        followup.RENEWAL,
        "1-session purchase A-1, 1 session left",
        agreements=(
            agreement("A-2", "active", purchased="2024-07-20", quantity="1", left="0"),
            agreement("A-1", "active", purchased="2024-07-01", quantity="1", left="1"),
        ),
    ),
    Case(
        "an empty sessions_remaining on a single session counts as 0: drop-in",
        "Customer",
        followup.DROP_IN,
        "1-session purchase A-9, 0 sessions left",
        agreements=(agreement("A-9", "active", quantity="1"),),
    ),
    Case(
        "an active 10-pack with 0 sessions left is active, not drop-in",
        "Customer",
        followup.ACTIVE,
        "active agreement A-1",
        agreements=(agreement("A-1", "active", quantity="10", left="0"),),
    ),
    Case(
        "two inactive agreements: the later purchase decides (canceled)",
        "Customer",
        followup.CANCELED,
        "latest inactive agreement A-2 alert canceled",
        # A-5 has the greater id but the earlier purchase: the date decides first.
        agreements=(
            agreement("A-2", "inactive", purchased="2024-05-01", alert="canceled"),
            agreement("A-5", "inactive", purchased="2024-02-01", alert="expired"),
        ),
    ),
    Case(
        "two inactive agreements: the later purchase decides (expired)",
        "Customer",
        followup.EXPIRED,
        "latest inactive agreement A-2 alert expired",
        agreements=(
            agreement("A-5", "inactive", purchased="2024-02-01", alert="canceled"),
            agreement("A-2", "inactive", purchased="2024-05-01", alert="expired"),
        ),
    ),
    Case(
        "two inactive agreements bought the same day: the greatest agreement_id decides",
        "Customer",
        followup.EXPIRED,
        "latest inactive agreement A-4 alert expired",
        # A-4 comes first in the file, so file order would pick A-3.
        agreements=(
            agreement("A-4", "inactive", purchased="2024-03-01", alert="expired"),
            agreement("A-3", "inactive", purchased="2024-03-01", alert="canceled"),
        ),
    ),
    Case(
        "the latest inactive agreement has no alert: unclassified, not the older canceled one",
        "Customer",
        followup.UNCLASSIFIED,
        "no rule matched: latest inactive agreement A-2 has no alert",
        agreements=(
            agreement("A-1", "inactive", purchased="2024-01-05", alert="canceled"),
            agreement("A-2", "inactive", purchased="2024-04-01"),
        ),
    ),
    Case(
        "a customer's events do not matter: still a customer",
        "Customer",
        followup.CANCELED,
        "latest inactive agreement A-4 alert canceled",
        agreements=(agreement("A-4", "inactive", alert="canceled"),),
        events=(event("E-1", "2024-08-02", "scheduled"),),
    ),
    Case(
        "a prospect who missed a trial and rebooked is trial booked",
        "Prospect",
        followup.TRIAL_BOOKED,
        "upcoming trial E-2 on 2024-08-02",
        events=(
            event("E-1", "2024-07-20", "no-show"),
            event("E-2", "2024-08-02", "scheduled"),
        ),
    ),
    Case(
        "a past event still marked scheduled was not attended: no show",
        "Prospect",
        followup.TRIAL_NO_SHOW,
        "latest past trial E-3 on 2024-07-20 still marked scheduled, so not attended",
        events=(event("E-3", "2024-07-20", "scheduled"),),
    ),
    Case(
        "canceled events are ignored: origin rules decide",
        "Prospect",
        followup.REFERRAL,
        "no events; origin referral",
        origin="referral",
        events=(
            event("E-1", "2024-07-20", "canceled"),
            event("E-2", "2024-08-02", "canceled"),
        ),
    ),
    Case(
        "a canceled later event does not hide an earlier attended one",
        "Prospect",
        followup.TRIAL_SHOW,
        "latest past trial E-1 on 2024-07-20 attended",
        events=(
            event("E-1", "2024-07-20", "attended"),
            event("E-2", "2024-07-25", "canceled"),
        ),
    ),
    Case(
        "an event at a time of day on the as-of date is past, not upcoming",
        "Prospect",
        followup.TRIAL_NO_SHOW,
        "latest past trial E-1 on 2024-07-31 still marked scheduled, so not attended",
        events=(event("E-1", "2024-07-31 18:30", "scheduled"),),
    ),
    Case(
        "an event at midnight after the as-of date is upcoming",
        "Prospect",
        followup.TRIAL_BOOKED,
        "upcoming trial E-1 on 2024-08-01",
        events=(event("E-1", "2024-08-01T00:00", "scheduled"),),
    ),
    Case(
        "an attended event then a later no-show: the latest decides",
        "Prospect",
        followup.TRIAL_NO_SHOW,
        "latest past class E-1 on 2024-07-25 no-show",
        # E-1 has the smaller id and comes last in the file: only the date can pick it.
        events=(
            event("E-2", "2024-07-10", "attended"),
            event("E-1", "2024-07-25", "no-show", kind="class"),
        ),
    ),
    Case(
        "a no-show then a later attended event: the latest decides",
        "Prospect",
        followup.TRIAL_SHOW,
        "latest past trial E-2 on 2024-07-25 attended",
        events=(
            event("E-2", "2024-07-25", "attended"),
            event("E-1", "2024-07-10", "no-show"),
        ),
    ),
    Case(
        "two events at the same starts_at: the greatest event_id decides",
        "Prospect",
        followup.TRIAL_SHOW,
        "latest past trial E-8 on 2024-07-20 attended",
        events=(
            event("E-8", "2024-07-20 10:00", "attended"),
            event("E-7", "2024-07-20 10:00", "no-show"),
        ),
    ),
    Case(
        "a date without a time is midnight, earlier than a time that day",
        "Prospect",
        followup.TRIAL_SHOW,
        "latest past trial E-1 on 2024-07-20 attended",
        events=(
            event("E-1", "2024-07-20 09:00", "attended"),
            event("E-2", "2024-07-20", "no-show"),
        ),
    ),
    Case(
        "an event with no kind is named as an event",
        "Prospect",
        followup.TRIAL_BOOKED,
        "upcoming event E-1 on 2024-08-02",
        events=(event("E-1", "2024-08-02", "scheduled", kind=""),),
    ),
    Case(
        "an agreement bought after the as-of date does not make a prospect a customer",
        "Prospect",
        followup.REFERRAL,
        "no events; origin referral",
        origin="referral",
        agreements=(agreement("A-1", "active", purchased="2024-08-01", fee="10.00"),),
    ),
    Case(
        "an agreement bought after the as-of date does not decide a customer's status",
        "Customer",
        followup.CANCELED,
        "latest inactive agreement A-1 alert canceled",
        agreements=(
            agreement("A-1", "inactive", purchased="2024-03-01", alert="canceled"),
            agreement("A-2", "collections", purchased="2024-08-01"),
        ),
    ),
    Case(
        "an agreement bought on the as-of date counts",
        "Customer",
        followup.RENEWAL,
        "1-session purchase A-1, 1 session left",
        agreements=(agreement("A-1", "active", purchased="2024-07-31", quantity="1", left="1"),),
    ),
    Case(
        "an earlier as-of date: the event is still upcoming and the membership not yet bought",
        "Prospect",
        followup.TRIAL_BOOKED,
        "upcoming trial E-1 on 2024-07-20",
        agreements=(agreement("A-1", "active", purchased="2024-07-25"),),
        events=(event("E-1", "2024-07-20", "attended"),),
        as_of=dt.date(2024, 7, 19),
    ),
    Case(
        "prospect with no events and no origin is a lead",
        "Prospect",
        followup.LEAD,
        "no events; no origin",
    ),
)


@pytest.mark.parametrize("case", cases(*PRECEDENCE_CASES))
def test_precedence(exports: Exports, case: Case) -> None:
    """When several rules could apply, the earlier row of SPEC 4's table wins."""
    check(exports, case)


def test_people_created_after_as_of_have_no_row(exports: Exports) -> None:
    """A customer created after the as-of date does not exist yet; one created on it does."""
    folder = exports(
        customers=[
            customer("C-9", origin="referral"),
            customer("C-2", origin="referral", created="2024-08-01"),
            customer("C-1", origin="referral", created="2024-07-31"),
        ],
        agreements=[agreement("A-1", "active", cid="C-2", purchased="2024-07-01")],
    )
    expected = pl.DataFrame(
        {
            "customer_id": ["C-9", "C-1"],
            "customer_type": ["Prospect", "Prospect"],
            "follow_up_status": [followup.REFERRAL, followup.REFERRAL],
            "reason": ["no events; origin referral"] * 2,
        }
    )
    assert_frame_equal(reconcile_rows(folder).select(LABELS), expected)


VOCABULARY_CASES = (
    Case(
        "agreement words in any case, and the cancelled spelling",
        "Customer",
        followup.CANCELED,
        "latest inactive agreement A-4 alert canceled",
        agreements=(agreement("A-4", " INACTIVE ", alert="Cancelled"),),
    ),
    Case(
        "an expired alert in capitals",
        "Customer",
        followup.EXPIRED,
        "latest inactive agreement A-4 alert expired",
        agreements=(agreement("A-4", "Inactive", alert="EXPIRED"),),
    ),
    Case(
        "collections in mixed case",
        "Customer",
        followup.COLLECTIONS,
        "collections: agreement A-17",
        agreements=(agreement("A-17", "Collections"),),
    ),
    Case(
        "suspended and active in capitals",
        "Customer",
        followup.SUSPENDED,
        "suspended: agreement A-1",
        agreements=(agreement("A-1", "SUSPENDED"), agreement("A-2", "Active")),
    ),
    Case(
        "a no_show outcome in mixed case is a no-show",
        "Prospect",
        followup.TRIAL_NO_SHOW,
        "latest past trial E-3 on 2024-07-20 no-show",
        events=(event("E-3", "2024-07-20", "No_Show"),),
    ),
    Case(
        "an attended outcome in capitals",
        "Prospect",
        followup.TRIAL_SHOW,
        "latest past trial E-3 on 2024-07-20 attended",
        events=(event("E-3", "2024-07-20", "ATTENDED"),),
    ),
    Case(
        "a canceled outcome in capitals is still ignored",
        "Prospect",
        followup.LEAD,
        "no events; origin walk-in",
        origin="Walk-In",
        events=(event("E-3", "2024-08-02", "CANCELED"),),
    ),
    Case(
        "a scheduled outcome in mixed case",
        "Prospect",
        followup.TRIAL_BOOKED,
        "upcoming trial E-12 on 2024-08-02",
        events=(event("E-12", "2024-08-02", "Scheduled"),),
    ),
    Case(
        "referral in any case",
        "Prospect",
        followup.REFERRAL,
        "no events; origin referral",
        origin=" Referral ",
    ),
)


@pytest.mark.parametrize("case", cases(*VOCABULARY_CASES))
def test_vocabulary_is_normalised(exports: Exports, case: Case) -> None:
    """Text values from the CSV are trimmed and matched case-insensitively (SPEC 2)."""
    check(exports, case)


@pytest.mark.parametrize(
    ("origin", "status", "shown"),
    [
        ("web", followup.WEB_LEAD, "web"),
        ("WEB", followup.WEB_LEAD, "web"),
        ("website", followup.WEB_LEAD, "website"),
        ("WebSite", followup.WEB_LEAD, "website"),
        ("online", followup.WEB_LEAD, "online"),
        (" Online ", followup.WEB_LEAD, "online"),
        ("web lead", followup.WEB_LEAD, "web lead"),
        ("Web Lead", followup.WEB_LEAD, "web lead"),
        ("webinar", followup.LEAD, "webinar"),
        ("walk-in", followup.LEAD, "walk-in"),
    ],
)
def test_web_origins(exports: Exports, origin: str, status: str, shown: str) -> None:
    """Origins web, website, online and web lead, in any case, are a Web Lead; others a Lead."""
    check(
        exports,
        Case(f"origin {origin}", "Prospect", status, f"no events; origin {shown}", origin=origin),
    )
