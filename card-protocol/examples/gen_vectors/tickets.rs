//! `vectors/tickets.json`: QR tickets (level 1 and 2) and their verdicts.
//!
//! Well-formed tickets come from the crate's public signing API. Broken ones
//! are built here byte by byte, and when the defect is a parse error the
//! issuer still signs the broken payload correctly, so the only thing wrong
//! with the case is what its name says.

use std::collections::HashMap;

use card_protocol::ticket::{Issuer, ProductCode, RiderCategoryCode, Validity, time_step};
use card_protocol::{Kid, PublicKey, TicketClaims, TicketId, sign_level2, sign_ticket};
use ring::digest;
use ring::signature::Ed25519KeyPair;
use serde::Serialize;

use crate::fixed::NOW_S;

const HOUR_S: u64 = 3_600;
/// The window of most tickets: from an hour before `NOW_S` to two after.
const NBF_S: u64 = NOW_S - HOUR_S;
const EXP_S: u64 = NOW_S + 2 * HOUR_S;

#[derive(Serialize)]
pub struct TicketVectors {
    keys: Vec<KeyVector>,
    cases: Vec<TicketVector>,
}

#[derive(Serialize)]
struct KeyVector {
    kid: String,
    public_key: String,
}

#[derive(Serialize)]
struct TicketVector {
    name: String,
    level: u8,
    payload: String,
    now: u64,
    expect: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    claims: Option<ClaimsVector>,
}

#[derive(Serialize)]
struct ClaimsVector {
    iss: String,
    exp: u64,
    nbf: u64,
    cti: String,
    holder_key: Option<String>,
    product: u16,
    rider_category: u8,
}

/// A key pair from a fixed label: seed = SHA-256(label).
fn key(label: &str) -> Ed25519KeyPair {
    let seed = digest::digest(&digest::SHA256, label.as_bytes());
    Ed25519KeyPair::from_seed_unchecked(seed.as_ref()).expect("any 32-byte seed is a key")
}

/// Two different keys whose kids are equal, found by a birthday search over
/// numbered labels (about 80 000 keys; deterministic because the search
/// order is).
fn colliding_keys() -> (Ed25519KeyPair, Ed25519KeyPair) {
    let label = |i: u32| format!("oneticket vectors kid collision {i}");
    let mut seen: HashMap<Kid, u32> = HashMap::new();
    for i in 0.. {
        let kid = PublicKey::of(&key(&label(i))).kid();
        if let Some(first) = seen.insert(kid, i) {
            return (key(&label(first)), key(&label(i)));
        }
    }
    unreachable!("a 32-bit kid collides long before u32 labels run out")
}

struct Keys {
    current: Ed25519KeyPair,
    previous: Ed25519KeyPair,
    retired: Ed25519KeyPair,
    collision: (Ed25519KeyPair, Ed25519KeyPair),
    holder: Ed25519KeyPair,
    other_holder: Ed25519KeyPair,
}

fn claims(holder: Option<&Ed25519KeyPair>, nbf_s: u64, exp_s: u64) -> TicketClaims {
    TicketClaims {
        issuer: Issuer::parse("OT").expect("valid issuer"),
        ticket_id: TicketId::from_bytes(*b"vector-ticket-01"),
        validity: Validity::new(nbf_s, exp_s).expect("non-empty window"),
        holder: holder.map(PublicKey::of),
        product: ProductCode(12),
        rider_category: RiderCategoryCode(1),
    }
}

fn claims_vector(c: &TicketClaims) -> ClaimsVector {
    ClaimsVector {
        iss: c.issuer.as_str().to_owned(),
        exp: c.validity.expires_s(),
        nbf: c.validity.not_before_s(),
        cti: c.ticket_id.to_string(),
        holder_key: c.holder.map(|k| hex::encode(k.as_bytes())),
        product: c.product.0,
        rider_category: c.rider_category.0,
    }
}

/// Minimal deterministic CBOR writer for hand-built cases.
#[derive(Default)]
struct Cbor(Vec<u8>);

impl Cbor {
    fn head(&mut self, major: u8, arg: u64) -> &mut Self {
        let m = major << 5;
        match arg {
            0..=23 => self.0.push(m | u8::try_from(arg).expect("< 24")),
            24..=0xff => self.0.extend([m | 24, u8::try_from(arg).expect("<= 0xff")]),
            0x100..=0xffff => {
                self.0.push(m | 25);
                self.0
                    .extend(u16::try_from(arg).expect("<= 0xffff").to_be_bytes());
            }
            0x1_0000..=0xffff_ffff => {
                self.0.push(m | 26);
                self.0
                    .extend(u32::try_from(arg).expect("<= u32::MAX").to_be_bytes());
            }
            _ => {
                self.0.push(m | 27);
                self.0.extend(arg.to_be_bytes());
            }
        }
        self
    }
    fn uint(&mut self, v: u64) -> &mut Self {
        self.head(0, v)
    }
    fn nint(&mut self, v: i64) -> &mut Self {
        self.head(1, u64::try_from(-1 - v).expect("negative"))
    }
    fn bytes(&mut self, b: &[u8]) -> &mut Self {
        self.head(2, u64::try_from(b.len()).expect("fits"));
        self.0.extend_from_slice(b);
        self
    }
    fn text(&mut self, t: &str) -> &mut Self {
        self.head(3, u64::try_from(t.len()).expect("fits"));
        self.0.extend_from_slice(t.as_bytes());
        self
    }
    fn raw(&mut self, b: &[u8]) -> &mut Self {
        self.0.extend_from_slice(b);
        self
    }
    fn done(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.0)
    }
}

fn protected_header(kid: Kid) -> Vec<u8> {
    Cbor::default()
        .raw(&[0xa2, 0x01, 0x27, 0x04])
        .bytes(kid.as_bytes())
        .done()
}

/// A COSE_Sign1 with this protected header, unprotected map and payload,
/// correctly signed by `signer`.
fn cose_sign1(
    signer: &Ed25519KeyPair,
    protected: &[u8],
    unprotected: &[u8],
    payload: &[u8],
) -> Vec<u8> {
    let to_sign = Cbor::default()
        .raw(&[0x84])
        .text("Signature1")
        .bytes(protected)
        .bytes(&[])
        .bytes(payload)
        .done();
    let signature = signer.sign(&to_sign);
    Cbor::default()
        .raw(&[0xd2, 0x84])
        .bytes(protected)
        .raw(unprotected)
        .bytes(payload)
        .bytes(signature.as_ref())
        .done()
}

/// The claims of `claims(None, NBF_S, EXP_S)` up to and including `cti`,
/// under a map head of `entries` entries.
fn claims_prefix(c: &mut Cbor, entries: u64) {
    c.head(5, entries)
        .uint(1)
        .text("OT")
        .uint(4)
        .uint(EXP_S)
        .uint(5)
        .uint(NBF_S)
        .uint(7)
        .bytes(b"vector-ticket-01");
}

fn private_claim(c: &mut Cbor) {
    c.nint(-70_000).raw(&[0x82]).uint(12).uint(1);
}

/// A level-2 wrapper built by hand.
fn wrap(ticket: &[u8], step: u64, proof: &[u8]) -> Vec<u8> {
    Cbor::default()
        .raw(&[0x83])
        .bytes(ticket)
        .uint(step)
        .bytes(proof)
        .done()
}

fn level2_message(ticket: &[u8], step: u64) -> Vec<u8> {
    let mut m = b"OT-L2".to_vec();
    m.extend_from_slice(digest::digest(&digest::SHA256, ticket).as_ref());
    m.extend_from_slice(&step.to_be_bytes());
    m
}

fn flip(bytes: &[u8], index: usize, mask: u8) -> Vec<u8> {
    let mut out = bytes.to_vec();
    out[index] ^= mask;
    out
}

/// Builder of the case list.
struct Cases(Vec<TicketVector>);

impl Cases {
    fn push(&mut self, name: &str, level: u8, payload: &[u8], now: u64, expect: &'static str) {
        self.0.push(TicketVector {
            name: name.to_owned(),
            level,
            payload: hex::encode(payload),
            now,
            expect,
            claims: None,
        });
    }

    fn valid(&mut self, name: &str, level: u8, payload: &[u8], now: u64, c: &TicketClaims) {
        self.0.push(TicketVector {
            name: name.to_owned(),
            level,
            payload: hex::encode(payload),
            now,
            expect: "valid",
            claims: Some(claims_vector(c)),
        });
    }
}

pub fn ticket_vectors() -> TicketVectors {
    let k = Keys {
        current: key("oneticket vectors issuer 2026-01"),
        previous: key("oneticket vectors issuer 2025-12"),
        retired: key("oneticket vectors issuer 2025-06"),
        collision: colliding_keys(),
        holder: key("oneticket vectors holder phone A"),
        other_holder: key("oneticket vectors holder phone B"),
    };
    let trusted = [&k.current, &k.previous, &k.collision.0, &k.collision.1];
    let keys = trusted
        .iter()
        .map(|pair| {
            let public = PublicKey::of(pair);
            KeyVector {
                kid: public.kid().to_string(),
                public_key: hex::encode(public.as_bytes()),
            }
        })
        .collect();

    let mut cases = Cases(Vec::new());
    valid_cases(&k, &mut cases);
    time_cases(&k, &mut cases);
    key_and_signature_cases(&k, &mut cases);
    malformed_cases(&k, &mut cases);
    proof_cases(&k, &mut cases);
    TicketVectors {
        keys,
        cases: cases.0,
    }
}

fn valid_cases(k: &Keys, cases: &mut Cases) {
    let step = time_step(NOW_S);
    let unbound = claims(None, NBF_S, EXP_S);
    let l1 = sign_ticket(&unbound, &k.current);
    cases.valid("unbound level 1 inside its window", 1, &l1, NOW_S, &unbound);
    cases.valid("unbound level 1 at now == nbf", 1, &l1, NBF_S, &unbound);
    cases.valid(
        "unbound level 1 at now == exp - 1",
        1,
        &l1,
        EXP_S - 1,
        &unbound,
    );
    let bound = claims(Some(&k.holder), NBF_S, EXP_S);
    let t = sign_ticket(&bound, &k.current);
    let l2 = |s| sign_level2(&t, &k.holder, s).expect("bound ticket, its holder");
    cases.valid(
        "bound level 2 at the current step",
        2,
        &l2(step),
        NOW_S,
        &bound,
    );
    cases.valid(
        "bound level 2 one step behind",
        2,
        &l2(step - 1),
        NOW_S,
        &bound,
    );
    cases.valid(
        "bound level 2 one step ahead",
        2,
        &l2(step + 1),
        NOW_S,
        &bound,
    );
    cases.valid(
        "bound level 2 one step behind, at the last second of the current step",
        2,
        &l2(step - 1),
        NOW_S + 29,
        &bound,
    );
    let by_previous = sign_ticket(&unbound, &k.previous);
    cases.valid(
        "signed by the previous key during the rotation overlap",
        1,
        &by_previous,
        NOW_S,
        &unbound,
    );
    let by_second = sign_ticket(&unbound, &k.collision.1);
    cases.valid(
        "two trusted keys share the kid: the second one signed it",
        1,
        &by_second,
        NOW_S,
        &unbound,
    );
    let largest = TicketClaims {
        issuer: Issuer::parse("OT-HCMC1").expect("8 characters"),
        product: ProductCode(u16::MAX),
        rider_category: RiderCategoryCode(u8::MAX),
        ..bound.clone()
    };
    let big = sign_ticket(&largest, &k.current);
    let big_l2 = sign_level2(&big, &k.holder, step).expect("bound");
    cases.valid("largest claims, level 2", 2, &big_l2, NOW_S, &largest);
}

fn time_cases(k: &Keys, cases: &mut Cases) {
    let step = time_step(NOW_S);
    let l1 = sign_ticket(&claims(None, NBF_S, EXP_S), &k.current);
    cases.push("level 1 at now == exp", 1, &l1, EXP_S, "expired");
    cases.push(
        "level 1 a day after exp",
        1,
        &l1,
        EXP_S + 24 * HOUR_S,
        "expired",
    );
    cases.push(
        "level 1 at now == nbf - 1",
        1,
        &l1,
        NBF_S - 1,
        "not_yet_valid",
    );
    let t = sign_ticket(&claims(Some(&k.holder), NBF_S, EXP_S), &k.current);
    let at_exp = sign_level2(&t, &k.holder, time_step(EXP_S)).expect("bound");
    cases.push(
        "level 2 with a fresh proof at now == exp",
        2,
        &at_exp,
        EXP_S,
        "expired",
    );
    let before = sign_level2(&t, &k.holder, time_step(NBF_S - 1)).expect("bound");
    cases.push(
        "level 2 with a fresh proof before nbf",
        2,
        &before,
        NBF_S - 1,
        "not_yet_valid",
    );
    let stale_and_expired = sign_level2(&t, &k.holder, step).expect("bound");
    cases.push(
        "level 2 expired with a stale proof: time is checked before the proof",
        2,
        &stale_and_expired,
        EXP_S + HOUR_S,
        "expired",
    );
}

fn key_and_signature_cases(k: &Keys, cases: &mut Cases) {
    let step = time_step(NOW_S);
    let c = claims(None, NBF_S, EXP_S);
    let l1 = sign_ticket(&c, &k.current);
    let last = l1.len() - 1;
    cases.push(
        "first signature bit flipped",
        1,
        &flip(&l1, last - 63, 0x80),
        NOW_S,
        "bad_signature",
    );
    cases.push(
        "last signature bit flipped",
        1,
        &flip(&l1, last, 0x01),
        NOW_S,
        "bad_signature",
    );
    cases.push(
        "ticket id changed after signing",
        1,
        &flip(&l1, cti_last_byte(&l1), 0x01),
        NOW_S,
        "bad_signature",
    );
    let mut swapped = sign_ticket(&c, &k.previous);
    swapped[8..12].copy_from_slice(PublicKey::of(&k.current).kid().as_bytes());
    cases.push(
        "kid points at another trusted key",
        1,
        &swapped,
        NOW_S,
        "bad_signature",
    );
    let forged = cose_sign1(
        &k.holder,
        &protected_header(PublicKey::of(&k.current).kid()),
        &[0xa0],
        &payload_of(&l1),
    );
    cases.push(
        "signed by an untrusted key under a trusted kid",
        1,
        &forged,
        NOW_S,
        "bad_signature",
    );
    let t = sign_ticket(&claims(Some(&k.holder), NBF_S, EXP_S), &k.current);
    let tampered = flip(&t, cti_last_byte(&t), 0x01);
    let proof = k.holder.sign(&level2_message(&tampered, step));
    cases.push(
        "level 2 whose ticket was changed after issuing (proof itself fine)",
        2,
        &wrap(&tampered, step, proof.as_ref()),
        NOW_S,
        "bad_signature",
    );

    let retired = sign_ticket(&c, &k.retired);
    cases.push(
        "signed by a retired key no longer published",
        1,
        &retired,
        NOW_S,
        "unknown_key",
    );
    let mut zero_kid = l1.clone();
    zero_kid[8..12].copy_from_slice(&[0; 4]);
    cases.push(
        "kid 00000000 is not in the key set",
        1,
        &zero_kid,
        NOW_S,
        "unknown_key",
    );
    let t_retired = sign_ticket(&claims(Some(&k.holder), NBF_S, EXP_S), &k.retired);
    let l2_retired = sign_level2(&t_retired, &k.holder, step).expect("bound");
    cases.push(
        "level 2 issued under a retired key",
        2,
        &l2_retired,
        NOW_S,
        "unknown_key",
    );
    cases.push(
        "retired key and expired: the key is checked before time",
        1,
        &retired,
        EXP_S,
        "unknown_key",
    );
}

/// Where the last byte of the ticket id sits: changing it keeps the
/// ticket well formed but breaks the issuer signature.
fn cti_last_byte(ticket: &[u8]) -> usize {
    ticket
        .windows(16)
        .position(|w| w == b"vector-ticket-01")
        .expect("cti present")
        + 15
}

/// The payload bytes of a ticket the crate signed (byte 13 starts the
/// payload bstr, whose head is 2 bytes for every payload of 24–255 bytes).
fn payload_of(ticket: &[u8]) -> Vec<u8> {
    assert_eq!(ticket[13], 0x58, "payload bstr with a 1-byte length");
    let len = usize::from(ticket[14]);
    ticket[15..15 + len].to_vec()
}

fn malformed_cases(k: &Keys, cases: &mut Cases) {
    let step = time_step(NOW_S);
    let l1 = sign_ticket(&claims(None, NBF_S, EXP_S), &k.current);
    let kid = PublicKey::of(&k.current).kid();
    let m = "malformed";
    cases.push("empty input", 1, &[], NOW_S, m);
    cases.push("truncated by one byte", 1, &l1[..l1.len() - 1], NOW_S, m);
    cases.push("truncated to half", 1, &l1[..l1.len() / 2], NOW_S, m);
    cases.push(
        "one trailing byte",
        1,
        &[l1.as_slice(), &[0x00]].concat(),
        NOW_S,
        m,
    );
    cases.push(
        "wrong tag 17 (COSE_Mac0)",
        1,
        &flip(&l1, 0, 0xd2 ^ 0xd1),
        NOW_S,
        m,
    );
    cases.push(
        "tag 18 in a two-byte head",
        1,
        &[&[0xd8, 0x12], &l1[1..]].concat(),
        NOW_S,
        m,
    );
    cases.push("untagged COSE_Sign1 array", 1, &l1[1..], NOW_S, m);
    cases.push(
        "252 bytes: over the level-2 limit",
        2,
        &[0x40; 252],
        NOW_S,
        m,
    );
    let over = Cbor::default().raw(&[0xd2]).bytes(&[0; 178]).done();
    cases.push(
        "181-byte level 1: over the level-1 limit",
        1,
        &over,
        NOW_S,
        m,
    );

    let payload = payload_of(&l1);
    let es256 = Cbor::default()
        .raw(&[0xa2, 0x01, 0x26, 0x04])
        .bytes(kid.as_bytes())
        .done();
    cases.push(
        "protected alg -7 (ES256)",
        1,
        &cose_sign1(&k.current, &es256, &[0xa0], &payload),
        NOW_S,
        m,
    );
    let crit = Cbor::default()
        .raw(&[0xa3, 0x01, 0x27, 0x02, 0x81, 0x18, 0x64, 0x04])
        .bytes(kid.as_bytes())
        .done();
    cases.push(
        "protected header with crit",
        1,
        &cose_sign1(&k.current, &crit, &[0xa0], &payload),
        NOW_S,
        m,
    );
    let unprotected = Cbor::default()
        .raw(&[0xa1, 0x04])
        .bytes(kid.as_bytes())
        .done();
    cases.push(
        "kid in the unprotected header too",
        1,
        &cose_sign1(&k.current, &protected_header(kid), &unprotected, &payload),
        NOW_S,
        m,
    );
    let signed = |payload: &[u8]| cose_sign1(&k.current, &protected_header(kid), &[0xa0], payload);
    let mut c = Cbor::default();
    c.head(5, 6)
        .uint(1)
        .text("OT")
        .uint(4)
        .uint(EXP_S)
        .uint(5)
        .uint(NBF_S);
    c.uint(6).uint(NOW_S).uint(7).bytes(b"vector-ticket-01");
    private_claim(&mut c);
    cases.push(
        "unknown claim 6 (iat), correctly signed",
        1,
        &signed(&c.done()),
        NOW_S,
        m,
    );
    claims_prefix(&mut c, 6);
    private_claim(&mut c);
    c.nint(-70_001).uint(0);
    cases.push(
        "unknown private claim -70001, correctly signed",
        1,
        &signed(&c.done()),
        NOW_S,
        m,
    );
    claims_prefix(&mut c, 6);
    c.uint(7).bytes(b"vector-ticket-02");
    private_claim(&mut c);
    cases.push(
        "duplicate cti, correctly signed",
        1,
        &signed(&c.done()),
        NOW_S,
        m,
    );
    c.head(5, 5)
        .uint(1)
        .text("OT")
        .uint(5)
        .uint(NBF_S)
        .uint(4)
        .uint(EXP_S);
    c.uint(7).bytes(b"vector-ticket-01");
    private_claim(&mut c);
    cases.push(
        "claims out of order (nbf before exp), correctly signed",
        1,
        &signed(&c.done()),
        NOW_S,
        m,
    );
    c.head(5, 5)
        .uint(1)
        .text("OT")
        .uint(4)
        .text("1767232800")
        .uint(5)
        .uint(NBF_S);
    c.uint(7).bytes(b"vector-ticket-01");
    private_claim(&mut c);
    cases.push(
        "exp as text, correctly signed",
        1,
        &signed(&c.done()),
        NOW_S,
        m,
    );
    c.head(5, 5)
        .uint(1)
        .text("OT")
        .raw(&[0x04, 0x1b])
        .raw(&EXP_S.to_be_bytes());
    c.uint(5).uint(NBF_S).uint(7).bytes(b"vector-ticket-01");
    private_claim(&mut c);
    cases.push(
        "exp in a non-shortest 8-byte head, correctly signed",
        1,
        &signed(&c.done()),
        NOW_S,
        m,
    );
    c.raw(&[0xbf])
        .uint(1)
        .text("OT")
        .uint(4)
        .uint(EXP_S)
        .uint(5)
        .uint(NBF_S);
    c.uint(7).bytes(b"vector-ticket-01");
    private_claim(&mut c);
    c.raw(&[0xff]);
    cases.push(
        "indefinite-length claims map, correctly signed",
        1,
        &signed(&c.done()),
        NOW_S,
        m,
    );
    c.head(5, 4)
        .uint(1)
        .text("OT")
        .uint(4)
        .uint(EXP_S)
        .uint(5)
        .uint(NBF_S);
    private_claim(&mut c);
    cases.push(
        "cti missing, correctly signed",
        1,
        &signed(&c.done()),
        NOW_S,
        m,
    );
    c.head(5, 5)
        .uint(1)
        .text("OT")
        .uint(4)
        .uint(NBF_S)
        .uint(5)
        .uint(EXP_S);
    c.uint(7).bytes(b"vector-ticket-01");
    private_claim(&mut c);
    cases.push(
        "nbf after exp, correctly signed",
        1,
        &signed(&c.done()),
        NOW_S,
        m,
    );
    // The research brief's ticket (Python cbor2 + cryptography) uses an
    // integer `iss`; RFC 8392 and this format need text.
    let brief = cose_sign1(
        &k.current,
        &protected_header(kid),
        &[0xa0],
        &Cbor::default()
            .head(5, 5)
            .uint(1)
            .uint(7)
            .uint(4)
            .uint(EXP_S)
            .uint(5)
            .uint(NBF_S)
            .uint(7)
            .bytes(b"vector-ticket-01")
            .nint(-70_000)
            .raw(&[0x82, 0x0c, 0x01])
            .done(),
    );
    cases.push("integer iss, correctly signed", 1, &brief, NOW_S, m);

    let proof = k.holder.sign(&level2_message(&l1, step));
    cases.push(
        "level 2 around an unbound ticket",
        2,
        &wrap(&l1, step, proof.as_ref()),
        NOW_S,
        m,
    );
    let t = sign_ticket(&claims(Some(&k.holder), NBF_S, EXP_S), &k.current);
    let proof = k.holder.sign(&level2_message(&t, step));
    let mut long_proof = proof.as_ref().to_vec();
    long_proof.push(0);
    cases.push(
        "level 2 with a 65-byte proof",
        2,
        &wrap(&t, step, &long_proof),
        NOW_S,
        m,
    );
    let negative_step = Cbor::default()
        .raw(&[0x83])
        .bytes(&t)
        .nint(-1)
        .bytes(proof.as_ref())
        .done();
    cases.push("level 2 with a negative step", 2, &negative_step, NOW_S, m);
    let four = Cbor::default()
        .raw(&[0x84])
        .bytes(&t)
        .uint(step)
        .bytes(proof.as_ref())
        .uint(0)
        .done();
    cases.push("level 2 array of 4", 2, &four, NOW_S, m);
    let l2 = sign_level2(&t, &k.holder, step).expect("bound");
    cases.push(
        "level 2 with a trailing byte",
        2,
        &[l2.as_slice(), &[0]].concat(),
        NOW_S,
        m,
    );
}

fn proof_cases(k: &Keys, cases: &mut Cases) {
    let step = time_step(NOW_S);
    let t = sign_ticket(&claims(Some(&k.holder), NBF_S, EXP_S), &k.current);
    cases.push(
        "bound ticket shown as level 1 (a screenshot of the static QR)",
        1,
        &t,
        NOW_S,
        "bad_proof",
    );
    let l2 = sign_level2(&t, &k.holder, step).expect("bound");
    let last = l2.len() - 1;
    cases.push(
        "level 2 proof with its last bit flipped",
        2,
        &flip(&l2, last, 0x01),
        NOW_S,
        "bad_proof",
    );
    let other = k.other_holder.sign(&level2_message(&t, step));
    cases.push(
        "level 2 proof signed by another phone",
        2,
        &wrap(&t, step, other.as_ref()),
        NOW_S,
        "bad_proof",
    );
    let for_step = k.holder.sign(&level2_message(&t, step));
    cases.push(
        "level 2 proof made for step s but carrying step s + 1",
        2,
        &wrap(&t, step + 1, for_step.as_ref()),
        NOW_S,
        "bad_proof",
    );
    let t2 = sign_ticket(
        &TicketClaims {
            ticket_id: TicketId::from_bytes(*b"vector-ticket-02"),
            ..claims(Some(&k.holder), NBF_S, EXP_S)
        },
        &k.current,
    );
    let for_t2 = k.holder.sign(&level2_message(&t2, step));
    cases.push(
        "level 2 proof made for another ticket of the same phone",
        2,
        &wrap(&t, step, for_t2.as_ref()),
        NOW_S,
        "bad_proof",
    );
    let stale = k.other_holder.sign(&level2_message(&t, step - 5));
    cases.push(
        "level 2 proof by another phone and stale: the signature is checked first",
        2,
        &wrap(&t, step - 5, stale.as_ref()),
        NOW_S,
        "bad_proof",
    );

    let l2 = |s| sign_level2(&t, &k.holder, s).expect("bound");
    cases.push(
        "level 2 proof two steps behind",
        2,
        &l2(step - 2),
        NOW_S,
        "stale_proof",
    );
    cases.push(
        "level 2 proof two steps ahead",
        2,
        &l2(step + 2),
        NOW_S,
        "stale_proof",
    );
    cases.push(
        "level 2 proof two steps ahead, at the last second of the current step",
        2,
        &l2(step + 2),
        NOW_S + 29,
        "stale_proof",
    );
    cases.push(
        "level 2 proof an hour old",
        2,
        &l2(step - 120),
        NOW_S,
        "stale_proof",
    );
}
