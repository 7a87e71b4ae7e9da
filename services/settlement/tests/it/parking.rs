//! Parking on real Postgres: a stay closed as a lost ticket and a monthly
//! permit, recorded as the hot path records them, settled to the lot
//! operators.
//!
//! - **E** buys the motorbike permit (100,000, to unearned revenue) and
//!   parks 12 h 30 min at BXS-P: 8,000 without the permit, 0 with it, so
//!   8,000 of the permit is recognised to HURC1; 92,000 stay unearned.
//! - **F** parks 2 h at D1-CAR and loses the ticket: 2 started hours,
//!   50,000, plus the car tariff's lost-ticket fee 150,000, both to
//!   D1_PARKING.

use settlement::job::Settings;

use crate::support::{World, day, unearned};

const E: &[&str] = &[
    "03-02T07:00 topup 200000",
    "03-02T07:05 buy parking_month_motorbike adult",
    "03-02T08:00 park_in BXS-P @BXS-P-IN",
    "03-02T20:30 park_out BXS-P @BXS-P-IN",
];
const F: &[&str] = &[
    "03-02T07:00 topup 300000",
    "03-02T09:00 park_in D1-CAR",
    "03-02T11:00 park_out_lost_ticket D1-CAR",
];

#[tokio::test]
async fn lost_tickets_and_permits_settle_to_the_lot_operators() {
    let db = test_kit::fresh_database().await;
    let mut w = World::new(db.pool.clone()).await;
    w.rider("E", 0xE, "adult").await;
    w.rider("F", 0xF, "adult").await;
    for (name, lines) in [("E", E), ("F", F)] {
        for line in lines {
            assert!(w.event(name, line).await, "{name}: {line} accepted");
        }
    }
    let reports = w.settle(Settings::default()).await;
    let r = &reports[0];
    // E: sale, recognition; F: parking fee, lost-ticket fee.
    assert_eq!((r.settled, r.failed, r.transfers), (2, 0, 4));
    assert_eq!(w.revenue("HURC1").await, 8_000);
    assert_eq!(w.revenue("D1_PARKING").await, 200_000);
    assert_eq!(unearned(&db.pool).await, 92_000);
    assert_eq!(w.balance(w.id("E")).await, 100_000);
    assert_eq!(w.balance(w.id("F")).await, 100_000);

    // What the hot path charged is what settlement posted.
    let settler = w.settler(Settings::default()).await;
    let accounts = settler
        .store()
        .account_totals(day(), None, 100)
        .await
        .unwrap();
    let pairs: Vec<(i64, i64)> = accounts
        .iter()
        .map(|a| (a.provisional_vnd, a.settled_vnd))
        .collect();
    assert_eq!(pairs, [(100_000, 100_000), (200_000, 200_000)]);
    // The statements: the permit's recognition for HURC1, both of F's
    // fees as D1_PARKING's parking revenue.
    let statement = settler.store().operator_totals(day()).await.unwrap();
    let parts: Vec<(&str, i64, i64)> = statement
        .iter()
        .map(|t| (t.operator_id.as_str(), t.pass_recognised_vnd, t.parking_vnd))
        .collect();
    assert_eq!(parts, [("D1_PARKING", 0, 200_000), ("HURC1", 8_000, 0)]);
    w.assert_audits_pass().await;
    db.drop_now().await;
}
