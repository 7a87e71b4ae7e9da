//! The schema on its own: rows written with raw SQL, bypassing the adapter,
//! must be refused by the named constraint (or trigger) that guards them.

use crate::fixture::{
    CLEARING, METRO, WALLET, account_id, at, direct, ledger, pending, transfer_id,
};

/// Runs `sql` and expects Postgres to refuse it naming `constraint`.
async fn check(pool: &sqlx::PgPool, sql: &str, constraint: &str) {
    let error = sqlx::query(sql).execute(pool).await.expect_err(sql);
    let db = error
        .as_database_error()
        .unwrap_or_else(|| panic!("{sql}: {error}"));
    assert_eq!(db.constraint(), Some(constraint), "{sql}: {}", db.message());
}

fn uuid(id: ledger::AccountId) -> String {
    id.as_uuid().to_string()
}

#[tokio::test]
async fn bad_rows_are_refused_by_named_constraints() {
    let (db, l) = ledger().await;
    l.apply(
        &[
            direct(1, CLEARING, WALLET, 1_000),
            pending(2, WALLET, METRO, 300, 600),
            pending(3, WALLET, METRO, 100, 600),
        ],
        at(1),
    )
    .await
    .unwrap();
    let (c, w, m) = (
        uuid(account_id(CLEARING)),
        uuid(account_id(WALLET)),
        uuid(account_id(METRO)),
    );
    let t1 = transfer_id(1).as_uuid();
    let t2 = transfer_id(2).as_uuid();
    let new = "01900000-0000-7000-9000-0000000000ff";
    let insert = |id: &str,
                  kind: &str,
                  debit: &str,
                  credit: &str,
                  amount: i64,
                  extra_cols: &str,
                  extra_vals: &str| {
        format!(
            "INSERT INTO ledger.transfer (transfer_id, kind, code, debit_account_id, credit_account_id, \
             currency, amount_vnd, accepted_at{extra_cols}) \
             VALUES ('{id}', '{kind}', 2, '{debit}', '{credit}', 704, {amount}, now(){extra_vals})"
        )
    };
    let pool = &db.pool;
    check(
        pool,
        &insert(
            &t1.to_string(),
            "direct",
            &c,
            &w,
            5,
            ", overdraft",
            ", 'forbidden'",
        ),
        "transfer_pkey",
    )
    .await;
    check(
        pool,
        &insert(new, "direct", &c, &w, 0, ", overdraft", ", 'forbidden'"),
        "transfer_amount_positive",
    )
    .await;
    check(
        pool,
        &insert(new, "direct", &c, &w, -5, ", overdraft", ", 'forbidden'"),
        "transfer_amount_positive",
    )
    .await;
    check(
        pool,
        &insert(new, "direct", &w, &w, 5, ", overdraft", ", 'forbidden'"),
        "transfer_not_self",
    )
    .await;
    check(
        pool,
        &insert(new, "direct", &c, &w, 5, "", ""),
        "transfer_overdraft_shape",
    )
    .await;
    check(
        pool,
        &insert(new, "pending", &c, &w, 5, ", overdraft", ", 'forbidden'"),
        "transfer_timeout_shape",
    )
    .await;
    check(
        pool,
        &insert(
            new,
            "void",
            &w,
            &m,
            300,
            ", pending_id, pending_amount_vnd",
            &format!(", '{t2}', 300"),
        ),
        "transfer_resolution_shape",
    )
    .await;
    check(
        pool,
        &insert(
            "00000000-0000-0000-0000-000000000000",
            "direct",
            &c,
            &w,
            5,
            ", overdraft",
            ", 'forbidden'",
        ),
        "transfer_id_not_reserved",
    )
    .await;
    check(
        pool,
        &insert(
            new,
            "direct",
            &c,
            "01900000-0000-7000-8000-000000000063",
            5,
            ", overdraft",
            ", 'forbidden'",
        ),
        "transfer_credit_account_fkey",
    )
    .await;
    check(
        pool,
        &insert(
            new,
            "direct",
            "01900000-0000-7000-8000-000000000064",
            &w,
            5,
            ", overdraft",
            ", 'forbidden'",
        ),
        "transfer_debit_account_fkey",
    )
    .await;
    // The keys are checked per statement: one bad row among good ones
    // refuses the statement, whichever row it is.
    check(
        pool,
        &format!(
            "INSERT INTO ledger.transfer (transfer_id, kind, code, debit_account_id, \
             credit_account_id, currency, amount_vnd, overdraft, accepted_at) VALUES \
             ('01900000-0000-7000-9000-000000000101', 'direct', 2, '{c}', '{w}', 704, 5, 'forbidden', now()), \
             ('01900000-0000-7000-9000-000000000102', 'direct', 2, '{c}', '{m}', 704, 5, 'forbidden', now()), \
             ('01900000-0000-7000-9000-000000000103', 'direct', 2, '{c}', \
             '01900000-0000-7000-8000-000000000065', 704, 5, 'forbidden', now())"
        ),
        "transfer_credit_account_fkey",
    )
    .await;
    // A post larger than its pending transfer, or naming other accounts.
    check(
        pool,
        &insert(
            new,
            "post",
            &w,
            &m,
            301,
            ", pending_id, pending_kind, pending_amount_vnd",
            &format!(", '{t2}', 'pending', 300"),
        ),
        "transfer_post_within_pending",
    )
    .await;
    check(
        pool,
        &insert(
            new,
            "post",
            &c,
            &m,
            300,
            ", pending_id, pending_kind, pending_amount_vnd",
            &format!(", '{t2}', 'pending', 300"),
        ),
        "transfer_pending_fkey",
    )
    .await;
    // A post with no resolution row is refused at commit.
    check(
        pool,
        &insert(
            new,
            "post",
            &w,
            &m,
            300,
            ", pending_id, pending_kind, pending_amount_vnd",
            &format!(", '{t2}', 'pending', 300"),
        ),
        "transfer_resolution_recorded_fkey",
    )
    .await;
    // Resolved at most once.
    sqlx::query(&format!(
        "INSERT INTO ledger.pending_resolution (pending_id, resolution, resolved_at) VALUES ('{t2}', 'expired', now())"
    )).execute(pool).await.unwrap();
    check(pool, &format!(
        "INSERT INTO ledger.pending_resolution (pending_id, resolution, resolved_at) VALUES ('{t2}', 'expired', now())"
    ), "pending_resolution_pkey").await;
    check(pool, &format!(
        "INSERT INTO ledger.pending_resolution (pending_id, resolution, resolved_at) VALUES ('{t1}', 'expired', now())"
    ), "pending_resolution_pending_fkey").await;
    let t3 = transfer_id(3).as_uuid();
    check(pool, &format!(
        "INSERT INTO ledger.pending_resolution (pending_id, resolution, resolving_transfer_id, resolved_at) \
         VALUES ('{t3}', 'voided', '{t1}', now())"
    ), "pending_resolution_transfer_fkey").await;
    // The open-pending queue names pending transfers only, new or changed.
    check(
        pool,
        &format!("INSERT INTO ledger.pending_open (pending_id, expires_at) VALUES ('{t1}', now())"),
        "pending_open_pending_fkey",
    )
    .await;
    check(
        pool,
        &format!("UPDATE ledger.pending_open SET pending_id = '{t1}' WHERE pending_id = '{t3}'"),
        "pending_open_pending_fkey",
    )
    .await;
    // Append-only.
    check(
        pool,
        &format!("UPDATE ledger.transfer SET amount_vnd = 1 WHERE transfer_id = '{t1}'"),
        "transfer_append_only",
    )
    .await;
    check(
        pool,
        &format!("DELETE FROM ledger.transfer WHERE transfer_id = '{t1}'"),
        "transfer_append_only",
    )
    .await;
    check(
        pool,
        "TRUNCATE ledger.transfer CASCADE",
        "transfer_append_only",
    )
    .await;
    check(
        pool,
        &format!("DELETE FROM ledger.pending_resolution WHERE pending_id = '{t2}'"),
        "pending_resolution_append_only",
    )
    .await;
    // Accounts: limits, non-negative totals, immutable descriptions.
    check(
        pool,
        &format!("UPDATE ledger.account SET debits_posted_vnd = 1001 WHERE account_id = '{w}'"),
        "account_debits_within_limit",
    )
    .await;
    check(
        pool,
        &format!("UPDATE ledger.account SET credits_posted_vnd = -1 WHERE account_id = '{m}'"),
        "account_totals_non_negative",
    )
    .await;
    check(
        pool,
        &format!("UPDATE ledger.account SET kind = 'penalties' WHERE account_id = '{w}'"),
        "account_immutable",
    )
    .await;
    check(
        pool,
        &format!("DELETE FROM ledger.account WHERE account_id = '{w}'"),
        "account_immutable",
    )
    .await;
    check(pool, "INSERT INTO ledger.account (account_id, currency, kind, limit_kind, overdraft_limit_vnd, created_at) \
        VALUES (gen_random_uuid(), 704, 'operator_revenue', 'none', 0, now())", "account_operator_iff_operator_revenue").await;
    check(pool, "INSERT INTO ledger.account (account_id, currency, kind, limit_kind, overdraft_limit_vnd, created_at) \
        VALUES (gen_random_uuid(), 704, 'rider_wallet', 'none', -1, now())", "account_overdraft_limit_valid").await;
    check(pool, "INSERT INTO ledger.account (account_id, currency, kind, limit_kind, overdraft_limit_vnd, created_at) \
        VALUES (gen_random_uuid(), 0, 'rider_wallet', 'none', 0, now())", "account_currency_iso").await;
    db.drop_now().await;
}
