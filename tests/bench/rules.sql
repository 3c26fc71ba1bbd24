-- SPEC 3 and 4 as one DuckDB query over the Parquet exports: what a data engineer would write
-- instead of `followup reconcile`. It trusts its input (no validation, no rejects, exact ids),
-- so it does less than the tool; the benchmark checks that its rows equal ours.
--
-- Variables (SET VARIABLE before running): data (the folder of *.parquet files),
-- as_of (DATE), surcharge_cents (BIGINT), and SPEC 3's thresholds warning_after_days and
-- disabled_after_months (INTEGER), which run_bench.py takes from
-- followup_cli.core.account_status (WARNING_AFTER_DAYS, DISABLED_AFTER_MONTHS) so they are
-- defined once. Money is summed in integer cents.
WITH
customers AS (
    SELECT
        file_row_number AS row_no,
        customer_id,
        nullif(trim(name), '') AS name,
        nullif(lower(trim(origin)), '') AS origin
    FROM read_parquet(getvariable('data') || '/customers.parquet', file_row_number = true)
    WHERE created_on <= getvariable('as_of')
),
agreements AS (
    SELECT
        agreement_id,
        customer_id,
        purchase_date,
        session_quantity,
        sessions_remaining,
        lower(trim(status)) AS status,
        CASE lower(trim(alert)) WHEN 'cancelled' THEN 'canceled' WHEN '' THEN NULL
            ELSE lower(trim(alert)) END AS alert,
        CAST(monthly_fee * 100 AS BIGINT) AS fee_cents,
        end_date
    FROM read_parquet(getvariable('data') || '/agreements.parquet')
    WHERE purchase_date <= getvariable('as_of')
        AND customer_id IN (SELECT customer_id FROM customers)
),
payments AS (
    SELECT
        customer_id,
        paid_on,
        CAST(amount * 100 AS BIGINT) AS cents,
        lower(trim(kind)) IN ('one-off', 'one_off', 'one off', 'oneoff') AS one_off
    FROM read_parquet(getvariable('data') || '/payments.parquet')
    WHERE paid_on <= getvariable('as_of')
        AND customer_id IN (SELECT customer_id FROM customers)
),
events AS (
    SELECT
        event_id,
        customer_id,
        CAST(starts_at AS TIMESTAMP) AS starts_at,
        nullif(trim(kind), '') AS kind,
        replace(lower(trim(outcome)), 'no_show', 'no-show') AS outcome,
        CAST(starts_at AS DATE) > getvariable('as_of') AS upcoming
    FROM read_parquet(getvariable('data') || '/events.parquet')
    WHERE customer_id IN (SELECT customer_id FROM customers)
),

-- The ledger (SPEC 3).
fee_months AS (
    SELECT
        customer_id,
        purchase_date,
        fee_cents,
        last_day(CAST(unnest(generate_series(
            date_trunc('month', purchase_date),
            date_trunc('month', least(coalesce(end_date, getvariable('as_of')), getvariable('as_of'))),
            INTERVAL 1 MONTH
        )) AS DATE)) AS month_end
    FROM agreements
    WHERE fee_cents IS NOT NULL
),
charges AS (
    SELECT
        customer_id,
        fee_cents AS cents,
        -- A month bills on its last weekday, or on the purchase day if that is later.
        greatest(
            month_end - CAST(greatest(isodow(month_end) - 5, 0) AS INTEGER), purchase_date
        ) AS due_on
    FROM fee_months
    UNION ALL
    SELECT customer_id, getvariable('surcharge_cents') AS cents, paid_on AS due_on
    FROM payments
    WHERE one_off
),
credits AS (
    SELECT customer_id, sum(cents) AS credits FROM payments GROUP BY customer_id
),
running AS (
    SELECT
        customer_id,
        due_on,
        cents,
        sum(cents) OVER (PARTITION BY customer_id ORDER BY due_on) AS running_cents
    FROM charges
    WHERE due_on <= getvariable('as_of')
),
settled AS (
    SELECT
        r.customer_id,
        sum(r.cents) AS charged,
        coalesce(sum(r.cents) FILTER (WHERE r.due_on < getvariable('as_of')), 0) AS charged_before,
        -- Credits settle the oldest charges first: the first charge the running total of
        -- charges carries past the credits is the oldest unpaid one.
        min(r.due_on) FILTER (WHERE r.running_cents > coalesce(c.credits, 0)) AS oldest_unpaid_on
    FROM running AS r
    LEFT JOIN credits AS c USING (customer_id)
    GROUP BY r.customer_id
),
figures AS (
    SELECT
        s.customer_id,
        coalesce(c.credits, 0) - coalesce(t.charged, 0) AS balance_cents,
        greatest(coalesce(t.charged_before, 0) - coalesce(c.credits, 0), 0) AS past_due_cents,
        t.oldest_unpaid_on,
        getvariable('as_of') - t.oldest_unpaid_on AS days_in_arrears
    FROM (SELECT DISTINCT customer_id FROM agreements WHERE fee_cents IS NOT NULL) AS s
    LEFT JOIN credits AS c USING (customer_id)
    LEFT JOIN settled AS t USING (customer_id)
),
accounts AS (
    SELECT
        *,
        CASE
            WHEN balance_cents >= 0 THEN 'Paid in Full'
            WHEN getvariable('as_of')
                >= CAST(oldest_unpaid_on + to_months(getvariable('disabled_after_months')) AS DATE)
                THEN 'Disabled'
            WHEN days_in_arrears > getvariable('warning_after_days') THEN 'Warning'
            ELSE 'Due'
        END AS account_status
    FROM figures
),

-- The facts the follow-up rules read (SPEC 4): the latest agreement of each sort (latest
-- purchase, then greatest id) and the next and the latest past event (canceled ones aside).
agreement_facts AS (
    SELECT
        customer_id,
        arg_max(agreement_id, {'d': purchase_date, 'id': agreement_id})
            FILTER (WHERE status = 'collections') AS collections_id,
        arg_max(agreement_id, {'d': purchase_date, 'id': agreement_id})
            FILTER (WHERE status = 'suspended') AS suspended_id,
        arg_max(agreement_id, {'d': purchase_date, 'id': agreement_id})
            FILTER (WHERE status = 'active' AND coalesce(session_quantity <> 1, true)) AS active_id,
        arg_max(agreement_id, {'d': purchase_date, 'id': agreement_id})
            FILTER (WHERE status = 'active' AND session_quantity = 1
                AND coalesce(sessions_remaining, 0) >= 1) AS renewal_id,
        arg_max(sessions_remaining, {'d': purchase_date, 'id': agreement_id})
            FILTER (WHERE status = 'active' AND session_quantity = 1
                AND coalesce(sessions_remaining, 0) >= 1) AS renewal_left,
        arg_max(agreement_id, {'d': purchase_date, 'id': agreement_id})
            FILTER (WHERE status = 'active' AND session_quantity = 1
                AND coalesce(sessions_remaining, 0) = 0) AS drop_in_id,
        arg_max(agreement_id, {'d': purchase_date, 'id': agreement_id})
            FILTER (WHERE status = 'inactive') AS inactive_id,
        arg_max_null(alert, {'d': purchase_date, 'id': agreement_id})
            FILTER (WHERE status = 'inactive') AS inactive_alert
    FROM agreements
    GROUP BY customer_id
),
event_facts AS (
    SELECT
        customer_id,
        arg_min(event_id, {'t': starts_at, 'id': event_id}) FILTER (WHERE upcoming) AS next_id,
        arg_min(starts_at, {'t': starts_at, 'id': event_id}) FILTER (WHERE upcoming) AS next_at,
        arg_min_null(kind, {'t': starts_at, 'id': event_id}) FILTER (WHERE upcoming)
            AS next_kind,
        arg_max(event_id, {'t': starts_at, 'id': event_id}) FILTER (WHERE NOT upcoming)
            AS last_id,
        arg_max(starts_at, {'t': starts_at, 'id': event_id}) FILTER (WHERE NOT upcoming)
            AS last_at,
        arg_max_null(kind, {'t': starts_at, 'id': event_id}) FILTER (WHERE NOT upcoming)
            AS last_kind,
        arg_max(outcome, {'t': starts_at, 'id': event_id}) FILTER (WHERE NOT upcoming)
            AS last_outcome
    FROM events
    WHERE outcome <> 'canceled'
    GROUP BY customer_id
),
people AS (
    SELECT
        c.row_no,
        c.customer_id,
        c.name,
        c.origin,
        f.customer_id IS NOT NULL AS has_agreement,
        f.* EXCLUDE (customer_id),
        e.* EXCLUDE (customer_id),
        a.* EXCLUDE (customer_id),
        CAST(abs(a.past_due_cents) // 100 AS VARCHAR) || '.'
            || lpad(CAST(abs(a.past_due_cents) % 100 AS VARCHAR), 2, '0') AS past_due_text,
        coalesce(e.next_kind, 'event') || ' ' || e.next_id || ' on '
            || CAST(CAST(e.next_at AS DATE) AS VARCHAR) AS next_event,
        coalesce(e.last_kind, 'event') || ' ' || e.last_id || ' on '
            || CAST(CAST(e.last_at AS DATE) AS VARCHAR) AS last_event,
        coalesce('no events; origin ' || c.origin, 'no events; no origin') AS from_origin
    FROM customers AS c
    LEFT JOIN agreement_facts AS f USING (customer_id)
    LEFT JOIN event_facts AS e USING (customer_id)
    LEFT JOIN accounts AS a USING (customer_id)
),

-- The decision tables, first match wins: status and reason side by side.
decided AS (
    SELECT
        *,
        CASE
            WHEN NOT has_agreement THEN CASE
                WHEN next_id IS NOT NULL THEN ['Trial Booked', 'upcoming ' || next_event]
                WHEN last_outcome = 'attended'
                    THEN ['Trial Show - No Sale', 'latest past ' || last_event || ' attended']
                WHEN last_outcome IS NOT NULL THEN ['Trial No Show', 'latest past ' || last_event
                    || ' ' || CASE WHEN last_outcome = 'scheduled'
                        THEN 'still marked scheduled, so not attended' ELSE last_outcome END]
                WHEN origin = 'referral' THEN ['Referral', from_origin]
                WHEN origin IN ('web', 'website', 'online', 'web lead')
                    THEN ['Web Lead', from_origin]
                ELSE ['Lead', from_origin]
            END
            WHEN collections_id IS NOT NULL
                THEN ['Collections Customer', 'collections: agreement ' || collections_id]
            WHEN coalesce(past_due_cents, 0) > 0 THEN ['Delinquent Customer',
                'past due ' || past_due_text || ' since ' || CAST(oldest_unpaid_on AS VARCHAR)]
            WHEN suspended_id IS NOT NULL
                THEN ['Active Customer - Suspended', 'suspended: agreement ' || suspended_id]
            WHEN active_id IS NOT NULL THEN ['Active Customer', 'active agreement ' || active_id]
            WHEN renewal_id IS NOT NULL THEN ['Renewal Opportunity', '1-session purchase '
                || renewal_id || ', ' || CAST(renewal_left AS VARCHAR)
                || CASE WHEN renewal_left = 1 THEN ' session left' ELSE ' sessions left' END]
            WHEN drop_in_id IS NOT NULL
                THEN ['Drop-In', '1-session purchase ' || drop_in_id || ', 0 sessions left']
            WHEN inactive_alert = 'canceled' THEN ['Canceled Customer',
                'latest inactive agreement ' || inactive_id || ' alert canceled']
            WHEN inactive_alert = 'expired' THEN ['Expired Customer',
                'latest inactive agreement ' || inactive_id || ' alert expired']
            ELSE ['Unclassified', coalesce('no rule matched: latest inactive agreement '
                || inactive_id || ' has no alert', 'no rule matched')]
        END AS verdict
    FROM people
)
SELECT
    customer_id,
    name,
    CASE WHEN has_agreement THEN 'Customer' ELSE 'Prospect' END AS customer_type,
    verdict[1] AS follow_up_status,
    verdict[2] AS reason,
    account_status,
    CAST(CAST(balance_cents AS DECIMAL(18, 2)) * 0.01 AS DECIMAL(18, 2)) AS balance,
    CAST(CAST(past_due_cents AS DECIMAL(18, 2)) * 0.01 AS DECIMAL(18, 2)) AS past_due,
    oldest_unpaid_on,
    days_in_arrears
FROM decided
ORDER BY row_no
