//! Driving the day through the real HTTP APIs, as the city would:
//!
//! 1. **The network** — the back office registers every terminal
//!    (`POST /v1/admin/terminals`, an API key with the `terminals` scope).
//! 2. **The riders** — each phone registers (`POST /v1/accounts`), logs in
//!    (`POST /v1/sessions`), links its card or bank card (`POST
//!    /v1/me/media`), tops up through the sandbox payment provider (`POST
//!    /v1/me/topups`, then the provider's page, whose callback credits the
//!    wallet); the back office then verifies student and exempt claims
//!    (`POST /v1/admin/riders/{id}/category`, scope `riders`), after which
//!    students buy their monthly pass at the student price (a step of the
//!    plan).
//! 3. **The day** — every step of the plan in time order: signed taps at
//!    bus validators and metro gates (`POST /v1/taps`), at parking gates
//!    (`POST /v1/parking/entries|exits`), a fresh QR ticket from the app
//!    (`GET /v1/me/ticket`) before each tap of a QR rider, top-ups and pass
//!    purchases in the app.
//!
//! What the terminals and the app were told is tallied ([`Tally`]); the
//! summary compares it with what Postgres recorded. Passwords, session
//! tokens, terminal keys and the admin key stay in memory and are never
//! printed. Each phone gets its own address (`X-Forwarded-For`), as riders'
//! phones do, so the rider API's per-address rate limits see many phones.

use std::collections::{BTreeMap, HashMap};
use std::io::IsTerminal;

use anyhow::{Context, bail};
use card_protocol::TerminalId;
use card_protocol::messages::{
    BankCardToken, CardUid, Decision, GateDirection, Medium, QrPayload, Reason, Tap, TapDecision,
    TapEvent, VehicleClass, WireId,
};
use card_protocol::request_auth::{MasterKey, TerminalKey, derive_terminal_key};
use futures::{StreamExt, TryStreamExt};
use hyper::StatusCode;
use indicatif::{ProgressBar, ProgressStyle};
use ring::rand::{SecureRandom, SystemRandom};
use serde::{Deserialize, Serialize};
use serde_json::json;
use uuid::Uuid;

use super::client::{Client, path_of};
use super::clock::DayClock;
use super::network::{City, Terminal, bus_terminal_id, gate_terminal_id, parking_terminal_id};
use super::scenario::{self, Action, Category, Pays, Plan, Rider, Step};

/// Phones signing up at once: the rider API hashes each password with
/// argon2id (tens of milliseconds of CPU), so more than a few at a time
/// only queue on a 2-core machine.
pub const ONBOARD_CONCURRENCY: usize = 4;
/// Random bytes of a demo rider's password (hex in the request): 96 bits,
/// never printed and forgotten when the demo ends.
const PASSWORD_BYTES: usize = 12;
/// The hours of the day at which the narrative prints a line when standard
/// error is not a terminal (no progress bar): one line per simulated hour.
const NARRATIVE_EVERY_S: u32 = 3_600;

/// Where a tap happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// A bus validator.
    Bus,
    /// A metro gate.
    Metro,
    /// A parking gate.
    Parking,
}

impl Mode {
    /// The summary's word for it.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Mode::Bus => "bus",
            Mode::Metro => "metro",
            Mode::Parking => "parking",
        }
    }
}

/// Taps of one mode, decision and reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TapCount {
    /// Where.
    pub mode: Mode,
    /// `accept` or `deny`.
    pub decision: String,
    /// The reason, when there is one.
    pub reason: Option<String>,
    /// How many.
    pub taps: u64,
}

/// What the terminals and the app were told.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tally {
    /// Terminals registered now.
    pub terminals_registered: u64,
    /// Terminals found registered by an earlier run.
    pub terminals_present: u64,
    /// Accounts registered.
    pub accounts: u64,
    /// Transit cards linked.
    pub cards_linked: u64,
    /// Bank cards linked.
    pub bank_cards_linked: u64,
    /// Student and exempt claims verified by the back office.
    pub categories_verified: u64,
    /// Top-ups paid through the sandbox provider and credited.
    pub top_ups: u64,
    /// Their total, VND.
    pub top_ups_vnd: i64,
    /// Passes bought, by product.
    pub passes_bought: BTreeMap<String, u64>,
    /// Pass purchases refused (not enough in the wallet).
    pub passes_refused: u64,
    /// QR tickets the app fetched.
    pub tickets_issued: u64,
    /// Taps by mode, decision and reason.
    pub taps: Vec<TapCount>,
}

impl Tally {
    fn tap(&mut self, mode: Mode, decision: Decision, reason: Option<Reason>) {
        let decision = match decision {
            Decision::Accept => "accept",
            Decision::Deny => "deny",
        };
        let reason = reason.and_then(|r| {
            serde_json::to_value(r)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
        });
        match self
            .taps
            .iter_mut()
            .find(|c| c.mode == mode && c.decision == decision && c.reason == reason)
        {
            Some(count) => count.taps += 1,
            None => {
                self.taps.push(TapCount {
                    mode,
                    decision: decision.to_owned(),
                    reason,
                    taps: 1,
                });
                self.taps.sort_by(|a, b| {
                    (a.mode, &a.decision, &a.reason).cmp(&(b.mode, &b.decision, &b.reason))
                });
            }
        }
    }

    /// Adds a phone's sign-up (accounts, media, top-ups, passes, tickets).
    fn merge(&mut self, other: Tally) {
        self.accounts += other.accounts;
        self.cards_linked += other.cards_linked;
        self.bank_cards_linked += other.bank_cards_linked;
        self.top_ups += other.top_ups;
        self.top_ups_vnd += other.top_ups_vnd;
        self.passes_refused += other.passes_refused;
        self.tickets_issued += other.tickets_issued;
        for (product, n) in other.passes_bought {
            *self.passes_bought.entry(product).or_insert(0) += n;
        }
    }

    /// Taps of `mode` (every decision).
    #[must_use]
    pub fn taps_of(&self, mode: Mode) -> u64 {
        self.taps
            .iter()
            .filter(|c| c.mode == mode)
            .map(|c| c.taps)
            .sum()
    }

    /// Every tap.
    #[must_use]
    pub fn total_taps(&self) -> u64 {
        self.taps.iter().map(|c| c.taps).sum()
    }
}

/// A secret held in memory only: no `Debug`, no `Display`.
pub struct Secret(String);

impl Secret {
    /// Wraps `text`.
    #[must_use]
    pub fn new(text: String) -> Secret {
        Secret(text)
    }

    fn bearer(&self) -> String {
        format!("Bearer {}", self.0)
    }
}

/// A rider's phone: its account, session and what it taps with.
struct Phone {
    account_id: Uuid,
    session: Secret,
    ip: String,
    /// The linked card or bank card; `None` for QR riders.
    medium: Option<Medium>,
}

/// The run's identity: terminals boot with it, logins and cards carry it,
/// so runs never collide in one database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Run(pub u32);

impl Run {
    fn login(self, rider: u32) -> String {
        format!("rider{rider}.{}@demo.oneticket.vn", self.0)
    }

    fn card(self, rider: u32) -> String {
        // 7 bytes: an NXP-style 0x04 prefix, the run, the rider.
        format!("04{:08x}{:04x}", self.0, rider & 0xffff)
    }

    fn bank_token(self, rider: u32) -> String {
        format!("demo{:08x}{rider:08x}", self.0)
    }

    fn ip(rider: u32) -> String {
        let [_, a, b, c] = rider.to_be_bytes();
        format!("10.{a}.{b}.{c}")
    }
}

/// Drives one day.
pub struct Driver<'a> {
    client: &'a Client,
    clock: &'a DayClock,
    city: &'a City,
    run: Run,
    admin: &'a Secret,
    master: &'a MasterKey,
    keys: HashMap<String, TerminalKey>,
    seqs: HashMap<String, u64>,
    phones: Vec<Phone>,
    tally: Tally,
}

impl<'a> Driver<'a> {
    /// A driver for `city` through `client`, signing as terminals with keys
    /// derived from `master`, administering with `admin`.
    #[must_use]
    pub fn new(
        client: &'a Client,
        clock: &'a DayClock,
        city: &'a City,
        run: Run,
        admin: &'a Secret,
        master: &'a MasterKey,
    ) -> Driver<'a> {
        Driver {
            client,
            clock,
            city,
            run,
            admin,
            master,
            keys: HashMap::new(),
            seqs: HashMap::new(),
            phones: Vec::new(),
            tally: Tally::default(),
        }
    }

    /// What was tallied so far.
    #[must_use]
    pub fn tally(&self) -> &Tally {
        &self.tally
    }

    /// Registers every terminal (201 new, 409 already there).
    ///
    /// # Errors
    /// Any other answer.
    pub async fn seed_network(&mut self, terminals: &[Terminal]) -> anyhow::Result<()> {
        let bearer = self.admin.bearer();
        for terminal in terminals {
            let reply = self
                .client
                .post(
                    "/v1/admin/terminals",
                    &[("Authorization", &bearer)],
                    &json!({
                        "terminal_id": terminal.terminal_id.as_str(),
                        "operator_id": terminal.operator_id,
                        "placement": terminal.placement,
                    }),
                )
                .await?;
            if reply.status == StatusCode::CONFLICT {
                self.tally.terminals_present += 1;
            } else {
                reply.expect(
                    StatusCode::CREATED,
                    &format!("registering terminal {}", terminal.terminal_id.as_str()),
                )?;
                self.tally.terminals_registered += 1;
            }
        }
        Ok(())
    }

    /// Signs every rider up (a few phones at a time), then verifies the
    /// student and exempt claims.
    ///
    /// # Errors
    /// An unexpected answer.
    pub async fn onboard(&mut self, riders: &[Rider]) -> anyhow::Result<()> {
        self.clock.go_to(scenario::SIGN_UP_AT_S);
        let (client, run) = (self.client, self.run);
        let results: Vec<(u32, Phone, Tally)> = futures::stream::iter(riders)
            .map(|rider| async move {
                let (phone, tally) = sign_up(client, run, rider)
                    .await
                    .with_context(|| format!("signing up rider {}", rider.index))?;
                Ok::<_, anyhow::Error>((rider.index, phone, tally))
            })
            .buffer_unordered(ONBOARD_CONCURRENCY)
            .try_collect()
            .await?;
        let mut results = results;
        results.sort_by_key(|(index, ..)| *index);
        for (_, phone, tally) in results {
            self.phones.push(phone);
            self.tally.merge(tally);
        }
        self.clock.go_to(scenario::VERIFY_AT_S);
        let bearer = self.admin.bearer();
        for rider in riders.iter().filter(|r| r.category != Category::Adult) {
            let phone = self.phone(rider.index)?;
            self.client
                .post(
                    &format!("/v1/admin/riders/{}/category", phone.account_id),
                    &[("Authorization", &bearer)],
                    &json!({"category": rider.category.as_str(), "status": "verified"}),
                )
                .await?
                .expect(StatusCode::OK, "verifying a rider category")?;
            self.tally.categories_verified += 1;
        }
        Ok(())
    }

    /// Plays every step of the day in time order, with a progress bar on a
    /// terminal (one narrative line per hour otherwise).
    ///
    /// # Errors
    /// An unexpected answer, naming the step.
    pub async fn ride(&mut self, plan: &Plan) -> anyhow::Result<()> {
        let bar = if std::io::stderr().is_terminal() {
            let bar = ProgressBar::new(u64::try_from(plan.steps.len()).unwrap_or(u64::MAX));
            bar.set_style(
                ProgressStyle::with_template(
                    "  {msg:<38} [{elapsed_precise}] {wide_bar} {pos}/{len} steps",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            Some(bar)
        } else {
            None
        };
        let mut next_line = 0;
        for step in &plan.steps {
            self.clock.go_to(step.at_s);
            self.step(plan, step).await.with_context(|| {
                format!(
                    "{} rider {}: {:?}",
                    scenario::clock_time(step.at_s),
                    step.rider,
                    step.action
                )
            })?;
            let status = format!(
                "{}{} · bus {} · metro {} · parking {}",
                match self.clock {
                    DayClock::Simulated { .. } => "",
                    DayClock::Server => "plan ",
                },
                scenario::clock_time(step.at_s),
                self.tally.taps_of(Mode::Bus),
                self.tally.taps_of(Mode::Metro),
                self.tally.taps_of(Mode::Parking),
            );
            match &bar {
                Some(bar) => {
                    bar.set_message(status);
                    bar.inc(1);
                }
                None if step.at_s >= next_line => {
                    eprintln!("  {status}");
                    next_line = (step.at_s / NARRATIVE_EVERY_S + 1) * NARRATIVE_EVERY_S;
                }
                None => {}
            }
        }
        if let Some(bar) = bar {
            // The last status stays on screen as a plain line.
            let last = bar.message();
            bar.finish_and_clear();
            eprintln!("  {last}");
        }
        Ok(())
    }

    fn phone(&self, rider: u32) -> anyhow::Result<&Phone> {
        self.phones
            .get(usize::try_from(rider).unwrap_or(usize::MAX))
            .with_context(|| format!("rider {rider} never signed up"))
    }

    async fn step(&mut self, plan: &Plan, step: &Step) -> anyhow::Result<()> {
        let rider = plan
            .riders
            .get(usize::try_from(step.rider).unwrap_or(usize::MAX))
            .context("a step names an unknown rider")?;
        let city = self.city;
        match step.action {
            Action::Bus { route, vehicle } => {
                let route_id = city.route(route).context("unknown route")?;
                let event = TapEvent::BusBoarding {
                    route_id: WireId::parse(route_id)?,
                    stop_id: None,
                };
                self.tap(rider, &bus_terminal_id(route_id, vehicle), event, Mode::Bus)
                    .await
            }
            Action::MetroIn { station, lane } | Action::MetroOut { station, lane } => {
                let entry = matches!(step.action, Action::MetroIn { .. });
                let station_id = city.station(station).context("unknown station")?;
                let (direction, event) = if entry {
                    (
                        GateDirection::Entry,
                        TapEvent::MetroEntry {
                            station_id: WireId::parse(station_id)?,
                        },
                    )
                } else {
                    (
                        GateDirection::Exit,
                        TapEvent::MetroExit {
                            station_id: WireId::parse(station_id)?,
                        },
                    )
                };
                let terminal = gate_terminal_id(station_id, direction, lane);
                self.tap(rider, &terminal, event, Mode::Metro).await
            }
            Action::ParkIn { lot, gate } | Action::ParkOut { lot, gate } => {
                let entry = matches!(step.action, Action::ParkIn { .. });
                let (site, gate_id) = city.lot_gate(lot, gate, entry).context("unknown gate")?;
                let (lot_id, gate_id) = (WireId::parse(&site.lot_id)?, WireId::parse(gate_id)?);
                let vehicle_class: VehicleClass = site.vehicle_class;
                let terminal = parking_terminal_id(lot_id.as_str(), gate_id.as_str());
                let event = if entry {
                    TapEvent::ParkingEntry {
                        lot_id,
                        gate_id,
                        vehicle_class,
                    }
                } else {
                    TapEvent::ParkingExit {
                        lot_id,
                        gate_id,
                        vehicle_class,
                    }
                };
                self.tap(rider, &terminal, event, Mode::Parking).await
            }
            Action::TopUp { amount_vnd } => {
                let phone = self.phone(rider.index)?;
                let key = format!("top-up-{}-{}-{}", self.run.0, rider.index, step.at_s);
                top_up(self.client, phone, amount_vnd, &key).await?;
                self.tally.top_ups += 1;
                self.tally.top_ups_vnd += amount_vnd;
                Ok(())
            }
            Action::BuyPass { pass } => {
                let product = city
                    .network()
                    .passes()
                    .get(pass)
                    .context("unknown pass")?
                    .product_id
                    .clone();
                let phone = self.phone(rider.index)?;
                let key = format!("pass-{}-{}-{}", self.run.0, rider.index, step.at_s);
                let bought = buy_pass(self.client, phone, &product, &key).await?;
                if bought {
                    *self.tally.passes_bought.entry(product).or_insert(0) += 1;
                } else {
                    self.tally.passes_refused += 1;
                }
                Ok(())
            }
        }
    }

    /// One signed tap of `rider` at `terminal`, counted by its decision.
    async fn tap(
        &mut self,
        rider: &Rider,
        terminal: &str,
        event: TapEvent,
        mode: Mode,
    ) -> anyhow::Result<()> {
        let phone = self.phone(rider.index)?;
        let medium = match &phone.medium {
            Some(medium) => medium.clone(),
            None => {
                let qr = ticket(self.client, phone).await?;
                self.tally.tickets_issued += 1;
                qr
            }
        };
        let terminal_id =
            TerminalId::parse(terminal).map_err(|_| anyhow::anyhow!("terminal id {terminal}"))?;
        let key = self
            .keys
            .entry(terminal.to_owned())
            .or_insert_with(|| derive_terminal_key(self.master, &terminal_id))
            .clone();
        let seq = self.seqs.entry(terminal.to_owned()).or_insert(0);
        *seq += 1;
        let now_s = self.clock.now_s();
        let tap = Tap {
            terminal_id: terminal_id.clone(),
            boot_epoch: self.run.0,
            seq: *seq,
            device_time_s: now_s,
            event,
            medium,
        };
        let path = match (&tap.event, mode) {
            (TapEvent::ParkingEntry { .. }, _) => "/v1/parking/entries",
            (TapEvent::ParkingExit { .. }, _) => "/v1/parking/exits",
            _ => "/v1/taps",
        };
        let decision: TapDecision = self
            .client
            .post_signed(path, &terminal_id, &key, now_s, &tap)
            .await?
            .expect(StatusCode::OK, &format!("a tap at {terminal}"))?
            .json()?;
        self.tally.tap(mode, decision.decision, decision.reason);
        Ok(())
    }
}

#[derive(Deserialize)]
struct Created {
    account_id: Uuid,
}

#[derive(Deserialize)]
struct Session {
    token: String,
}

#[derive(Deserialize)]
struct TopUpOrder {
    payment_url: Option<String>,
}

#[derive(Deserialize)]
struct TicketView {
    qr: String,
}

/// Registers, logs in, links the medium and tops up.
async fn sign_up(client: &Client, run: Run, rider: &Rider) -> anyhow::Result<(Phone, Tally)> {
    let mut tally = Tally::default();
    let ip = Run::ip(rider.index);
    let forwarded = [("X-Forwarded-For", ip.as_str())];
    let mut password = [0u8; PASSWORD_BYTES];
    SystemRandom::new()
        .fill(&mut password)
        .map_err(|_| anyhow::anyhow!("the OS random source failed"))?;
    let credentials = json!({"login": run.login(rider.index), "password": hex::encode(password)});
    let mut registration = credentials.clone();
    if rider.category != Category::Adult {
        registration["category"] = json!(rider.category.as_str());
    }
    let reply = client
        .post("/v1/accounts", &forwarded, &registration)
        .await?;
    if reply.status == StatusCode::TOO_MANY_REQUESTS {
        bail!(
            "the rider API's rate limit refused a registration: the demo stands in for many \
             phones and names each with X-Forwarded-For, which a server trusts only with \
             OT_TRUST_FORWARDED_FOR=true (or use fewer --riders)"
        );
    }
    let created: Created = reply.expect(StatusCode::CREATED, "registering")?.json()?;
    tally.accounts += 1;
    let session: Session = client
        .post("/v1/sessions", &forwarded, &credentials)
        .await?
        .expect(StatusCode::CREATED, "logging in")?
        .json()?;
    let mut phone = Phone {
        account_id: created.account_id,
        session: Secret::new(session.token),
        ip,
        medium: None,
    };
    let bearer = phone.session.bearer();
    let auth = [
        ("Authorization", bearer.as_str()),
        ("X-Forwarded-For", phone.ip.as_str()),
    ];
    let link = |kind: &str, value: &str| json!({"kind": kind, "value": value});
    match rider.pays {
        Pays::Card => {
            let card = run.card(rider.index);
            client
                .post("/v1/me/media", &auth, &link("transit_card", &card))
                .await?
                .expect(StatusCode::CREATED, "linking a card")?;
            phone.medium = Some(Medium::TransitCard {
                card_id: CardUid::parse(&card)?,
            });
            tally.cards_linked += 1;
        }
        Pays::BankCard => {
            let token = run.bank_token(rider.index);
            client
                .post("/v1/me/media", &auth, &link("bank_card", &token))
                .await?
                .expect(StatusCode::CREATED, "linking a bank card")?;
            phone.medium = Some(Medium::BankCard {
                token: BankCardToken::parse(&token)?,
            });
            tally.bank_cards_linked += 1;
        }
        Pays::AppQr => {}
    }
    let key = format!("sign-up-{}-{}", run.0, rider.index);
    top_up(client, &phone, rider.opening_top_up_vnd, &key).await?;
    tally.top_ups += 1;
    tally.top_ups_vnd += rider.opening_top_up_vnd;
    Ok((phone, tally))
}

/// A top-up through the sandbox provider: the order, the provider's page
/// (which delivers the signed callback that credits the wallet).
async fn top_up(client: &Client, phone: &Phone, amount_vnd: i64, key: &str) -> anyhow::Result<()> {
    let bearer = phone.session.bearer();
    let order: TopUpOrder = client
        .post(
            "/v1/me/topups",
            &[
                ("Authorization", bearer.as_str()),
                ("Idempotency-Key", key),
                ("X-Forwarded-For", phone.ip.as_str()),
            ],
            &json!({"amount_vnd": amount_vnd}),
        )
        .await?
        .expect(StatusCode::CREATED, "ordering a top-up")?
        .json()?;
    let url = order
        .payment_url
        .context("the top-up order has no payment URL")?;
    let page = path_of(&url).context("the payment URL has no path")?;
    let paid = client
        .get(page, &[("X-Forwarded-For", phone.ip.as_str())])
        .await?
        .expect(
            StatusCode::SEE_OTHER,
            "paying at the sandbox provider (is the server in OT_VNPAY_MODE=sandbox?)",
        )?;
    match paid.header(rider_api::routes::sandbox::IPN_RSP_CODE_HEADER) {
        Some("00") => Ok(()),
        other => bail!("the provider's callback was not accepted (RspCode {other:?})"),
    }
}

/// Buys a pass; false when the wallet cannot pay for it.
async fn buy_pass(
    client: &Client,
    phone: &Phone,
    product: &str,
    key: &str,
) -> anyhow::Result<bool> {
    let bearer = phone.session.bearer();
    let reply = client
        .post(
            "/v1/me/passes",
            &[
                ("Authorization", bearer.as_str()),
                ("Idempotency-Key", key),
                ("X-Forwarded-For", phone.ip.as_str()),
            ],
            &json!({"product_id": product}),
        )
        .await?;
    if reply.status == StatusCode::CONFLICT
        && reply.problem_code().as_deref() == Some("insufficient_funds")
    {
        return Ok(false);
    }
    reply.expect(StatusCode::CREATED, "buying a pass")?;
    Ok(true)
}

/// A fresh QR ticket from the app.
async fn ticket(client: &Client, phone: &Phone) -> anyhow::Result<Medium> {
    let bearer = phone.session.bearer();
    let view: TicketView = client
        .get(
            "/v1/me/ticket",
            &[
                ("Authorization", bearer.as_str()),
                ("X-Forwarded-For", phone.ip.as_str()),
            ],
        )
        .await?
        .expect(StatusCode::OK, "fetching a QR ticket")?
        .json()?;
    Ok(Medium::Qr {
        payload: QrPayload::parse(&view.qr)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_run(run: u32, rider: u32, expected: (&str, &str, &str, &str)) {
        let run = Run(run);
        let made = (
            run.login(rider),
            run.card(rider),
            run.bank_token(rider),
            Run::ip(rider),
        );
        assert_eq!(
            (
                made.0.as_str(),
                made.1.as_str(),
                made.2.as_str(),
                made.3.as_str()
            ),
            expected
        );
        assert!(CardUid::parse(&made.1).is_ok(), "{}", made.1);
        assert!(BankCardToken::parse(&made.2).is_ok(), "{}", made.2);
        assert!(
            rider_api::login::Login::parse(&made.0).is_ok(),
            "{}",
            made.0
        );
    }

    #[test]
    fn a_run_names_its_riders_apart_from_other_runs() {
        check_run(
            1_764_200_000,
            0,
            (
                "rider0.1764200000@demo.oneticket.vn",
                "0469278e400000",
                "demo69278e4000000000",
                "10.0.0.0",
            ),
        );
        check_run(
            7,
            9_999,
            (
                "rider9999.7@demo.oneticket.vn",
                "0400000007270f",
                "demo000000070000270f",
                "10.0.39.15",
            ),
        );
    }

    #[test]
    fn the_tally_counts_each_decision_once() {
        let mut tally = Tally::default();
        tally.tap(Mode::Bus, Decision::Accept, None);
        tally.tap(Mode::Metro, Decision::Deny, Some(Reason::InsufficientFunds));
        tally.tap(Mode::Bus, Decision::Accept, None);
        tally.tap(
            Mode::Metro,
            Decision::Accept,
            Some(Reason::IncompleteJourney),
        );
        let rows: Vec<(Mode, &str, Option<&str>, u64)> = tally
            .taps
            .iter()
            .map(|c| (c.mode, c.decision.as_str(), c.reason.as_deref(), c.taps))
            .collect();
        assert_eq!(
            rows,
            [
                (Mode::Bus, "accept", None, 2),
                (Mode::Metro, "accept", Some("incomplete_journey"), 1),
                (Mode::Metro, "deny", Some("insufficient_funds"), 1),
            ]
        );
        assert_eq!((tally.taps_of(Mode::Metro), tally.total_taps()), (2, 4));
    }
}
