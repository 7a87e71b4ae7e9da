//! Ticket verification throughput against its floor: raw `ring` Ed25519
//! verifies of the same bytes, measured in the same run.
//!
//! A level-1 ticket costs one signature verify plus parsing; a level-2 QR
//! costs two verifies, a SHA-256 and parsing. The ratio `verify_qr / raw`
//! says how much the protocol adds on top of the cryptography.
//!
//! Run: `cargo bench -p card-protocol --bench verify`. Prints, per case, the
//! median of interleaved rounds (ops/s), per-op latency percentiles, and the
//! ratio to the raw floor. Not a test: no thresholds.

use std::hint::black_box;
use std::time::Instant;

use card_protocol::ticket::{
    Issuer, ProductCode, RiderCategoryCode, TicketClaims, Validity, level2_message, sign_level2,
    time_step, verify_qr,
};
use card_protocol::{PublicKey, TicketId, VerifyingKeys, sign_ticket};
use ring::signature::{ED25519, Ed25519KeyPair, KeyPair, UnparsedPublicKey};

/// Verifications per round: long enough (≈ 0.5–1 s) to smooth the timer.
const OPS_PER_ROUND: usize = 10_000;
/// Rounds per case, interleaved across cases so machine noise hits all alike.
const ROUNDS: usize = 5;
/// A fixed instant inside the ticket's validity.
const NOW_S: u64 = 1_772_000_000;

fn main() {
    let issuer = Ed25519KeyPair::from_seed_unchecked(&[1; 32]).expect("seed");
    let holder = Ed25519KeyPair::from_seed_unchecked(&[2; 32]).expect("seed");
    let claims = TicketClaims {
        issuer: Issuer::parse("OT-HCM").expect("issuer"),
        ticket_id: TicketId::from_bytes([7; 16]),
        validity: Validity::new(NOW_S - 60, NOW_S + 600).expect("validity"),
        holder: Some(PublicKey::of(&holder)),
        product: ProductCode(12),
        rider_category: RiderCategoryCode(1),
    };
    let ticket = sign_ticket(&claims, &issuer);
    let step = time_step(NOW_S);
    let level2 = sign_level2(&ticket, &holder, step).expect("level 2");
    let unbound = sign_ticket(
        &TicketClaims {
            holder: None,
            ..claims.clone()
        },
        &issuer,
    );
    let keys: VerifyingKeys = [PublicKey::of(&issuer)].into_iter().collect();

    // The raw floor: the same signatures checked with ring and nothing else.
    let issuer_pk = UnparsedPublicKey::new(&ED25519, issuer.public_key().as_ref().to_vec());
    let holder_pk = UnparsedPublicKey::new(&ED25519, holder.public_key().as_ref().to_vec());
    let message = b"Signature1 stand-in: a message of a ticket's size, 120 bytes ..........................................................";
    let raw_sig = issuer.sign(message);
    let l2_message = level2_message(&ticket, step);
    let l2_sig = holder.sign(&l2_message);

    type Case<'a> = (&'a str, Box<dyn Fn() + 'a>);
    let cases: Vec<Case> = vec![
        (
            "raw ring verify ×1",
            Box::new(|| {
                black_box(issuer_pk.verify(black_box(message), raw_sig.as_ref())).expect("valid");
            }),
        ),
        (
            "verify_qr level 1 (unbound)",
            Box::new(|| {
                black_box(verify_qr(black_box(&unbound), &keys, NOW_S)).expect("valid");
            }),
        ),
        (
            "raw ring verify ×2",
            Box::new(|| {
                black_box(issuer_pk.verify(black_box(message), raw_sig.as_ref())).expect("valid");
                black_box(holder_pk.verify(black_box(&l2_message), l2_sig.as_ref()))
                    .expect("valid");
            }),
        ),
        (
            "verify_qr level 2 (bound)",
            Box::new(|| {
                black_box(verify_qr(black_box(&level2), &keys, NOW_S)).expect("valid");
            }),
        ),
    ];

    let mut rates: Vec<Vec<u128>> = vec![Vec::new(); cases.len()];
    let mut latencies_ns: Vec<Vec<u128>> = vec![Vec::new(); cases.len()];
    for _ in 0..ROUNDS {
        for (i, (_, run)) in cases.iter().enumerate() {
            let start = Instant::now();
            for _ in 0..OPS_PER_ROUND {
                let op = Instant::now();
                run();
                latencies_ns[i].push(op.elapsed().as_nanos());
            }
            let nanos = start.elapsed().as_nanos().max(1);
            rates[i].push(u128::try_from(OPS_PER_ROUND).expect("fits") * 1_000_000_000 / nanos);
        }
    }

    println!("ticket verification, {ROUNDS} interleaved rounds of {OPS_PER_ROUND} on one core");
    println!(
        "L1 ticket {} bytes, L2 QR {} bytes",
        unbound.len(),
        level2.len()
    );
    let mut medians = Vec::new();
    for (i, (name, _)) in cases.iter().enumerate() {
        let median = median(&mut rates[i]);
        medians.push(median);
        let lat = &mut latencies_ns[i];
        lat.sort_unstable();
        let pct = |permille: usize| micros(lat[(lat.len() - 1) * permille / 1000]);
        println!(
            "{name:<30} {median:>9} ops/s   p50 {:>6} µs  p99 {:>6} µs  p99.9 {:>6} µs",
            pct(500),
            pct(990),
            pct(999)
        );
    }
    println!("ratio level 1 / raw ×1: {}", ratio(medians[1], medians[0]));
    println!("ratio level 2 / raw ×2: {}", ratio(medians[3], medians[2]));
}

fn median(values: &mut [u128]) -> u128 {
    values.sort_unstable();
    values[values.len() / 2]
}

/// Nanoseconds as microseconds with one decimal.
fn micros(nanos: u128) -> String {
    format!("{}.{}", nanos / 1000, nanos % 1000 / 100)
}

/// `a / b` with two decimals, in integers.
fn ratio(a: u128, b: u128) -> String {
    let hundredths = a * 100 / b.max(1);
    format!("{}.{:02}", hundredths / 100, hundredths % 100)
}
