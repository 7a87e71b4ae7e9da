//! Seeding a day the way the hot path records it: riders with wallets
//! (`store_pg::rider`), terminals, and every accepted event priced by the
//! engine in arrival order, written to `rider.account_event` (and taps to
//! `transit.tap`, where the terminal's operator lives) with plain SQL.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, NaiveDate, Utc};
use fares::engine::{AccountState, Decision, Engine, Event, EventKind, LotOccupancy, ParkExit};
use ledger::{
    Account, AccountId, AccountKind, Amount, Currency, Money, Movement, NormalSide, OperatorId,
    Overdraft, ProviderId, Transfer, TransferBody, TransferCode, TransferId,
};
use settlement::job::{Scope, Settings, Settler};
use settlement::progress::Silent;
use sqlx::PgPool;
use store_pg::Ledger;
use store_pg::rider::{CategoryStatus, Riders};
use uuid::Uuid;

pub const DAY: &str = "2026-03-02";

pub fn day() -> NaiveDate {
    DAY.parse().expect("ISO date")
}

/// The ledger time of a run: after the day's close.
pub fn run_time() -> DateTime<Utc> {
    Utc::now()
}

/// A rider and the state the hot path keeps for it.
pub struct Rider {
    pub id: AccountId,
    state: AccountState,
    version: i64,
}

/// A seeded world: the engine, the pool, the riders by name.
pub struct World {
    pub engine: Arc<Engine>,
    pub pool: PgPool,
    pub riders: BTreeMap<&'static str, Rider>,
    clearing: AccountId,
    next_seq: i64,
}

const TERMINALS: [(&str, &str, &str, &str); 6] = [
    // (terminal, operator as the registry writes it, mode, placement)
    ("BUS19-1", "samco", "bus_validator", "19"),
    ("BUS13-1", "samco", "bus_validator", "13"),
    ("BTH-G1", "hurc1", "metro_gate", "BTH"),
    ("BXS-G1", "hurc1", "metro_gate", "BXS"),
    ("BXS-P-IN", "hurc1", "parking_gate", "BXS-P"),
    ("ANY-METRO", "hurc1", "metro_gate", "NHT"),
];

impl World {
    pub async fn new(pool: PgPool) -> World {
        let now = Utc::now();
        for (id, operator, mode, placement) in TERMINALS {
            let (route, station, lot, gate, direction) = match mode {
                "bus_validator" => (Some(placement), None, None, None, None),
                "metro_gate" => (None, Some(placement), None, None, Some("entry")),
                _ => (None, None, Some(placement), Some("G1"), Some("entry")),
            };
            sqlx::query(
                "INSERT INTO transit.terminal (terminal_id, operator_id, mode, route_id, station_id, \
                 lot_id, gate_id, direction, status, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'active', $9, $9)",
            )
            .bind(id)
            .bind(operator)
            .bind(mode)
            .bind(route)
            .bind(station)
            .bind(lot)
            .bind(gate)
            .bind(direction)
            .bind(now)
            .execute(&pool)
            .await
            .expect("terminal inserted");
        }
        let clearing = AccountId::new(Uuid::from_u128(0xC1EA)).expect("not reserved");
        Ledger::new(pool.clone())
            .create_account(
                &Account::new(
                    clearing,
                    AccountKind::ProviderClearing {
                        provider_id: ProviderId::parse("VNPAY").expect("valid"),
                    },
                ),
                now,
            )
            .await
            .expect("clearing account");
        World {
            engine: Arc::new(Engine::hcmc().expect("hcmc compiles")),
            pool,
            riders: BTreeMap::new(),
            clearing,
            next_seq: 1,
        }
    }

    pub async fn rider(&mut self, name: &'static str, n: u128, category: &str) {
        let id = AccountId::new(Uuid::from_u128(n)).expect("not reserved");
        Riders::new(self.pool.clone())
            .create_account(id, category, CategoryStatus::Verified, Utc::now())
            .await
            .expect("rider account");
        self.riders.insert(
            name,
            Rider {
                id,
                state: AccountState::default(),
                version: 0,
            },
        );
    }

    pub fn id(&self, name: &str) -> AccountId {
        self.riders[name].id
    }

    /// Records `line` (`MM-DDTHH:MM event args [@TERMINAL]`, local 2026
    /// time) for `name` as the hot path would: priced in arrival order,
    /// recorded only when accepted. Returns whether it was accepted.
    pub async fn event(&mut self, name: &str, line: &str) -> bool {
        let mut words: Vec<&str> = line.split_whitespace().collect();
        let terminal = words
            .iter()
            .position(|w| w.starts_with('@'))
            .map(|i| words.remove(i).trim_start_matches('@').to_owned());
        let at = DateTime::parse_from_rfc3339(&format!("2026-{}:00+07:00", words[0]))
            .expect("MM-DDTHH:MM");
        let e = Arc::clone(&self.engine);
        let (kind, route, station, lot, product, category, top_up) = match words[1] {
            "topup" => {
                let amount: i64 = words[2].parse().expect("amount");
                (
                    EventKind::TopUp {
                        amount: Money::vnd(amount),
                    },
                    None,
                    None,
                    None,
                    None,
                    None,
                    Some(amount),
                )
            }
            "bus" => (
                EventKind::Bus {
                    route: e.route(words[2]).expect("route"),
                    category: e.category(words[3]).expect("category"),
                },
                Some(words[2]),
                None,
                None,
                None,
                Some(words[3]),
                None,
            ),
            "in" => (
                EventKind::MetroIn {
                    station: e.station(words[2]).expect("station"),
                    category: e.category(words[3]).expect("category"),
                },
                None,
                Some(words[2]),
                None,
                None,
                Some(words[3]),
                None,
            ),
            "out" => (
                EventKind::MetroOut {
                    station: e.station(words[2]).expect("station"),
                },
                None,
                Some(words[2]),
                None,
                None,
                None,
                None,
            ),
            "buy" => (
                EventKind::BuyPass {
                    product: e.pass(words[2]).expect("pass"),
                    category: e.category(words[3]).expect("category"),
                },
                None,
                None,
                None,
                Some(words[2]),
                Some(words[3]),
                None,
            ),
            "park_in" | "park_out" | "park_out_lost_ticket" => {
                let lot = e.lot(words[2]).expect("lot");
                let kind = match words[1] {
                    "park_in" => EventKind::ParkIn { lot },
                    "park_out" => EventKind::ParkOut {
                        lot,
                        exit: ParkExit::WithMedium,
                    },
                    _ => EventKind::ParkOut {
                        lot,
                        exit: ParkExit::LostTicket,
                    },
                };
                (kind, None, None, Some(words[2]), None, None, None)
            }
            other => panic!("unknown step {other}"),
        };
        let occupancy = match kind {
            EventKind::ParkIn { lot } | EventKind::ParkOut { lot, .. } => {
                Some(LotOccupancy { lot, occupied: 0 })
            }
            _ => None,
        };
        let rider = self.riders.get_mut(name).expect("known rider");
        let decided = e
            .decide(&rider.state, occupancy, &Event { at, kind })
            .expect("valid event");
        let accepted = decided.outcome.decision == Decision::Accept;
        let service_day = e.calendar().service_day(at).date().expect("a real day");
        let at_utc = at.to_utc();
        let seq = self.next_seq;
        self.next_seq += 1;
        let tap_kind = match words[1] {
            "bus" => Some("bus_boarding"),
            "in" => Some("metro_entry"),
            "out" => Some("metro_exit"),
            "park_in" => Some("parking_entry"),
            "park_out" => Some("parking_exit"),
            _ => None,
        };
        let terminal = terminal.filter(|_| tap_kind.is_some());
        let key = match &terminal {
            Some(t) => format!("tap:{t}:0:{seq}"),
            None => format!(
                "{}:{}",
                words[1],
                Uuid::from_u128(u128::try_from(seq).expect("positive")).simple()
            ),
        };
        if let (Some(terminal), Some(tap_kind)) = (&terminal, tap_kind) {
            let operator: String = sqlx::query_scalar(
                "SELECT operator_id FROM transit.terminal WHERE terminal_id = $1",
            )
            .bind(terminal)
            .fetch_one(&self.pool)
            .await
            .expect("known terminal");
            sqlx::query(
                "INSERT INTO transit.tap (terminal_id, boot_epoch, seq, source, device_time, \
                 event_time, service_day, event_kind, route_id, station_id, lot_id, operator_id, \
                 medium_kind, account_id, category_id, decision, amount_vnd, balance_vnd, \
                 account_version, config_id, decided_at) \
                 VALUES ($1, 0, $2, 'online', $3, $3, $4, $5, $6, $7, $8, $9, 'transit_card', $10, \
                 $11, $12, $13, $14, $15, 'test', $3)",
            )
            .bind(terminal)
            .bind(seq)
            .bind(at_utc)
            .bind(service_day)
            .bind(tap_kind)
            .bind(route)
            .bind(station)
            .bind(lot)
            .bind(&operator)
            .bind(rider.id.as_uuid())
            .bind(category)
            .bind(if accepted { "accept" } else { "deny" })
            .bind(decided.outcome.amount.as_vnd())
            .bind(decided.outcome.balance.as_vnd())
            .bind(rider.version + i64::from(accepted))
            .execute(&self.pool)
            .await
            .expect("tap inserted");
        }
        if !accepted {
            return false;
        }
        if let Some(amount) = top_up {
            // The payment path posts the top-up to the ledger when it happens.
            let id = TransferId::new(Uuid::from_u128(
                0x7000_0000 + u128::try_from(seq).expect("positive"),
            ))
            .expect("not reserved");
            Ledger::new(self.pool.clone())
                .apply(
                    &[Transfer {
                        id,
                        code: TransferCode::TopUp,
                        reference: None,
                        body: TransferBody::Direct(Movement {
                            debit_account_id: self.clearing,
                            credit_account_id: rider.id,
                            amount: Amount::new(Money::vnd(amount)).expect("positive"),
                            currency: Currency::VND,
                            overdraft: Overdraft::Forbidden,
                        }),
                    }],
                    at_utc,
                )
                .await
                .expect("top-up posted");
        }
        rider.version += 1;
        rider.state = decided.state;
        let (boot_epoch, tap_seq) = match &terminal {
            Some(_) => (Some(0i64), Some(seq)),
            None => (None, None),
        };
        sqlx::query(
            "INSERT INTO rider.account_event (account_id, version, event_key, kind, event_time, \
             service_day, route_id, station_id, lot_id, product_id, category_id, top_up_vnd, \
             amount_vnd, balance_vnd, reason, terminal_id, boot_epoch, seq, config_id, decided_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, \
             $18, 'test', $5)",
        )
        .bind(rider.id.as_uuid())
        .bind(rider.version)
        .bind(&key)
        .bind(match words[1] {
            "topup" => "top_up",
            "in" => "metro_in",
            "out" => "metro_out",
            "buy" => "buy_pass",
            other => other,
        })
        .bind(at_utc)
        .bind(service_day)
        .bind(route)
        .bind(station)
        .bind(lot)
        .bind(product)
        .bind(category)
        .bind(top_up)
        .bind(decided.outcome.amount.as_vnd())
        .bind(decided.outcome.balance.as_vnd())
        .bind(decided.outcome.reason.map(|r| r.code()))
        .bind(terminal.as_deref())
        .bind(boot_epoch)
        .bind(tap_seq)
        .execute(&self.pool)
        .await
        .expect("event inserted");
        true
    }

    pub async fn settler(&self, settings: Settings) -> Settler {
        let owners = settlement::config::pass_owners(&self.engine, &fares::engine::hcmc_files())
            .expect("hcmc pass owners");
        Settler::new(
            self.pool.clone(),
            Arc::clone(&self.engine),
            owners,
            settings,
            Utc::now(),
        )
        .await
        .expect("settler")
    }

    /// Settles every day up to the test day.
    pub async fn settle(&self, settings: Settings) -> Vec<settlement::job::DayReport> {
        self.settler(settings)
            .await
            .settle_through(day(), Scope::IncludingThrough, &Silent, run_time())
            .await
            .expect("settles")
    }

    /// An account's posted balance on its normal side.
    pub async fn balance(&self, id: AccountId) -> i64 {
        let state = Ledger::new(self.pool.clone())
            .account(id)
            .await
            .expect("exists");
        state
            .balances
            .balance(state.account.kind.normal_side())
            .expect("small")
            .as_vnd()
    }

    /// The revenue balance of `operator`.
    pub async fn revenue(&self, operator: &str) -> i64 {
        let id =
            settlement::plan_ids::operator_account_id(&OperatorId::parse(operator).expect("valid"));
        self.balance(id).await
    }

    pub async fn transfer_count(&self) -> i64 {
        sqlx::query_scalar("SELECT count(*) FROM ledger.transfer")
            .fetch_one(&self.pool)
            .await
            .expect("count")
    }

    /// Both audits pass: the ledger's and settlement's.
    pub async fn assert_audits_pass(&self) {
        let report = store_pg::audit(&self.pool).await.expect("audit runs");
        assert!(report.passed(), "ledger audit: {:#?}", report.findings);
        let findings = store_pg::settlement::audit_settlement(&self.pool)
            .await
            .expect("settlement audit runs");
        assert!(findings.is_empty(), "settlement audit: {findings:#?}");
    }
}

/// The credit-normal balance of unearned pass revenue.
pub async fn unearned(pool: &PgPool) -> i64 {
    let state = Ledger::new(pool.clone())
        .account(settlement::plan_ids::unearned_account_id())
        .await
        .expect("exists");
    state
        .balances
        .balance(NormalSide::Credit)
        .expect("small")
        .as_vnd()
}

impl World {
    /// A tap whose medium resolved to no account, denied at the gate.
    pub async fn unknown_tap(&mut self, terminal: &str, at: &str) {
        let at = DateTime::parse_from_rfc3339(&format!("2026-{at}:00+07:00"))
            .expect("MM-DDTHH:MM")
            .to_utc();
        let seq = self.next_seq;
        self.next_seq += 1;
        sqlx::query(
            "INSERT INTO transit.tap (terminal_id, boot_epoch, seq, source, device_time, \
             event_time, service_day, event_kind, route_id, operator_id, medium_kind, decision, \
             reason, amount_vnd, config_id, decided_at) \
             VALUES ($1, 0, $2, 'online', $3, $3, $4, 'bus_boarding', '19', 'samco', 'bank_card', \
             'deny', 'unknown_medium', 0, 'test', $3)",
        )
        .bind(terminal)
        .bind(seq)
        .bind(at)
        .bind(day())
        .execute(&self.pool)
        .await
        .expect("tap inserted");
    }
}
