//! The QR ticket: a COSE_Sign1 (RFC 9052) carrying CWT claims (RFC 8392),
//! signed by the issuer with Ed25519 (level 1), optionally wrapped in a
//! holder-signed 30-second proof (level 2) so a screenshot stops working.
//!
//! Level 1: `18([h'A2 01 27 04 44 <kid>', {}, payload, signature])`, payload
//! = the claims map `{1 iss, 4 exp, 5 nbf, 7 cti, 8 cnf?, -70000 [product,
//! category]}`, signature = Ed25519 over `["Signature1", protected, h'',
//! payload]`. Level 2: `[ticket, step, proof]`, proof = the holder key's
//! Ed25519 signature of `"OT-L2" ‖ SHA-256(ticket) ‖ u64_be(step)`.
//!
//! [`verify_qr`] is the one entry point for terminals; SPEC.md §3 fixes its
//! check order. Everything is encoded in RFC 8949 core deterministic form and
//! decoded strictly, so each valid QR has exactly one byte spelling.

use std::fmt;

use ring::{digest, signature::Ed25519KeyPair};
use serde::{Deserialize, Serialize};

use crate::cbor::{CborError, Decoder, Encoder};
use crate::ids::{TICKET_ID_BYTES, TicketId};
use crate::keys::{
    ED25519_PUBLIC_KEY_BYTES, ED25519_SIGNATURE_BYTES, Kid, PublicKey, VerifyingKeys,
};

/// Largest level-1 ticket, in bytes: the byte capacity of a version 9 QR
/// code at error correction M (53×53 modules), which phones display and
/// gate scanners read reliably.
pub const MAX_TICKET_BYTES: usize = 180;

/// Largest level-2 QR, in bytes: the byte capacity of a version 11 QR code
/// at error correction M (61×61 modules).
pub const MAX_LEVEL2_BYTES: usize = 251;

/// Length of a level-2 time step, in seconds: a screenshot of the QR is
/// useless after at most `(MAX_STEP_DRIFT + 1) × TIME_STEP_S`.
pub const TIME_STEP_S: u64 = 30;

/// How many steps a proof may differ from the verifier's current step:
/// one step either way absorbs phone/terminal clock skew and the seconds
/// between rendering and scanning.
pub const MAX_STEP_DRIFT: u64 = 1;

/// Domain separation prefix of the level-2 signed message, so a holder
/// signature can never be replayed as a signature of anything else.
pub const LEVEL2_CONTEXT: &[u8] = b"OT-L2";

/// Longest issuer (`iss`), in bytes: the issuer is a short code (e.g. `OT`);
/// 8 bytes keeps the worst-case ticket inside [`MAX_TICKET_BYTES`].
pub const MAX_ISSUER_BYTES: usize = 8;

/// Latest `exp`/`nbf` accepted, in unix seconds (2106-02-07): times are
/// encoded in at most 5 bytes, which the size budget assumes.
pub const MAX_NUMERIC_DATE_S: u64 = 0xFFFF_FFFF;

/// CWT private-use claim (below -65536, RFC 8392 §9.1) carrying
/// `[product code, rider category code]`.
pub const CLAIM_PRODUCT_CATEGORY: i64 = -70_000;

/// CBOR tag of a COSE_Sign1 message (RFC 9052 §4.2).
const TAG_COSE_SIGN1: u64 = 18;
/// COSE header labels and values (RFC 9052 §3.1, IANA COSE registries).
const HEADER_ALG: i64 = 1;
const HEADER_KID: i64 = 4;
const ALG_EDDSA: i64 = -8;
/// CWT claim keys (RFC 8392 §4, RFC 8747 §3.1).
const CLAIM_ISS: i64 = 1;
const CLAIM_EXP: i64 = 4;
const CLAIM_NBF: i64 = 5;
const CLAIM_CTI: i64 = 7;
const CLAIM_CNF: i64 = 8;
/// `cnf` member holding a COSE_Key (RFC 8747 §3.1).
const CNF_COSE_KEY: i64 = 1;
/// COSE_Key labels and values for an Ed25519 OKP key (RFC 9053 §7.2).
const KEY_KTY: i64 = 1;
const KTY_OKP: i64 = 1;
const KEY_CRV: i64 = -1;
const CRV_ED25519: i64 = 6;
const KEY_X: i64 = -2;

/// The `Sig_structure` context string for COSE_Sign1 (RFC 9052 §4.4).
const SIGNATURE1_CONTEXT: &str = "Signature1";

/// Bytes of the protected header map `{1: -8, 4: h'<kid>'}`.
const PROTECTED_HEADER_BYTES: usize = 9;

/// The longest claims payload the field limits allow: map head, iss, exp,
/// nbf, cti, cnf, and the private claim with its 2-element array.
const WORST_CASE_PAYLOAD_BYTES: usize = 1
    + (1 + 1 + MAX_ISSUER_BYTES)
    + 2 * (1 + 5)
    + (1 + 1 + TICKET_ID_BYTES)
    + (1 + 1 + 1 + 1 + 2 + 2 + 1 + 2 + ED25519_PUBLIC_KEY_BYTES)
    + (5 + 1 + 3 + 2);

/// The longest level-1 ticket: tag, array head, protected bstr, empty
/// unprotected map, payload bstr (2-byte head), signature bstr.
pub const WORST_CASE_TICKET_BYTES: usize = 1
    + 1
    + (1 + PROTECTED_HEADER_BYTES)
    + 1
    + (2 + WORST_CASE_PAYLOAD_BYTES)
    + (2 + ED25519_SIGNATURE_BYTES);

/// The longest level-2 QR [`sign_level2`] builds: array head, ticket bstr
/// (2-byte head), a step up to `u32::MAX` (5 bytes), proof bstr.
pub const WORST_CASE_LEVEL2_BYTES: usize =
    1 + (2 + WORST_CASE_TICKET_BYTES) + 5 + (2 + ED25519_SIGNATURE_BYTES);

// The field limits guarantee the QR budgets, so signing never has to fail
// on size.
const _: () = assert!(WORST_CASE_PAYLOAD_BYTES >= 24 && WORST_CASE_PAYLOAD_BYTES <= 255);
const _: () = assert!(WORST_CASE_TICKET_BYTES <= MAX_TICKET_BYTES);
const _: () = assert!(WORST_CASE_LEVEL2_BYTES <= MAX_LEVEL2_BYTES);

/// The issuer (`iss`): 1 to [`MAX_ISSUER_BYTES`] characters of
/// `A–Z a–z 0–9 - _ .`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Issuer(String);

/// An issuer that is empty, too long or outside the character set.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("issuer must be 1..={MAX_ISSUER_BYTES} characters of A-Z a-z 0-9 - _ .")]
pub struct InvalidIssuer;

impl Issuer {
    /// Checks and wraps an issuer code.
    pub fn parse(text: &str) -> Result<Issuer, InvalidIssuer> {
        let allowed = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.');
        if text.is_empty() || text.len() > MAX_ISSUER_BYTES || !text.bytes().all(allowed) {
            return Err(InvalidIssuer);
        }
        Ok(Issuer(text.to_owned()))
    }

    /// The issuer as carried in the ticket.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Issuer {
    type Error = InvalidIssuer;
    fn try_from(text: String) -> Result<Self, Self::Error> {
        Issuer::parse(&text)
    }
}

impl From<Issuer> for String {
    fn from(issuer: Issuer) -> String {
        issuer.0
    }
}

/// The fare product a ticket grants, as a number assigned in the fare
/// configuration (the QR budget has no room for product names).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ProductCode(pub u16);

/// The rider category the ticket was sold for (adult, student, elderly …),
/// as a number assigned in the fare configuration.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RiderCategoryCode(pub u8);

/// When a ticket is valid: `not_before_s ≤ now < expires_s`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Validity {
    not_before_s: u64,
    expires_s: u64,
}

/// A validity window that is empty or reaches past [`MAX_NUMERIC_DATE_S`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("validity needs not_before_s < expires_s <= {MAX_NUMERIC_DATE_S}")]
pub struct InvalidValidity;

impl Validity {
    /// The window `[not_before_s, expires_s)` in unix seconds.
    pub fn new(not_before_s: u64, expires_s: u64) -> Result<Validity, InvalidValidity> {
        if not_before_s >= expires_s || expires_s > MAX_NUMERIC_DATE_S {
            return Err(InvalidValidity);
        }
        Ok(Validity {
            not_before_s,
            expires_s,
        })
    }

    /// `nbf`: first second the ticket is valid.
    #[must_use]
    pub const fn not_before_s(&self) -> u64 {
        self.not_before_s
    }

    /// `exp`: first second the ticket is no longer valid.
    #[must_use]
    pub const fn expires_s(&self) -> u64 {
        self.expires_s
    }
}

/// What a ticket says. Every field is validated by its type; any combination
/// is a valid ticket.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TicketClaims {
    /// `iss`.
    pub issuer: Issuer,
    /// `cti`: the ticket's id, which the backend maps to the account.
    pub ticket_id: TicketId,
    /// `nbf` and `exp`.
    pub validity: Validity,
    /// `cnf`: the holder's phone key. A bound ticket is accepted only with a
    /// fresh level-2 proof made with this key.
    pub holder: Option<PublicKey>,
    /// Private claim −70000, first element.
    pub product: ProductCode,
    /// Private claim −70000, second element.
    pub rider_category: RiderCategoryCode,
}

/// A verifier's answer, with the exact names the vectors and journal
/// records use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Signed by a trusted key, inside its window, with a fresh proof when
    /// bound.
    Valid,
    /// `now ≥ exp`.
    Expired,
    /// `now < nbf`.
    NotYetValid,
    /// No trusted key with the ticket's kid signed it.
    BadSignature,
    /// No trusted key has the ticket's kid.
    UnknownKey,
    /// The bytes are not a ticket in this format.
    Malformed,
    /// A bound ticket without a level-2 proof, or a proof the holder key
    /// did not make.
    BadProof,
    /// A correctly signed proof for a step more than one away from now.
    StaleProof,
}

impl Verdict {
    /// The verdict's wire name.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Verdict::Valid => "valid",
            Verdict::Expired => "expired",
            Verdict::NotYetValid => "not_yet_valid",
            Verdict::BadSignature => "bad_signature",
            Verdict::UnknownKey => "unknown_key",
            Verdict::Malformed => "malformed",
            Verdict::BadProof => "bad_proof",
            Verdict::StaleProof => "stale_proof",
        }
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a QR was refused. Each maps to one [`Verdict`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TicketError {
    /// See [`Malformed`].
    #[error("malformed ticket: {0}")]
    Malformed(Malformed),
    /// No trusted key has the ticket's kid (unknown, or rotated out).
    #[error("no trusted key has this key id")]
    UnknownKey,
    /// The issuer signature does not verify under any trusted key with the
    /// ticket's kid.
    #[error("issuer signature does not verify")]
    BadSignature,
    /// `now < nbf`.
    #[error("ticket is not valid yet")]
    NotYetValid,
    /// `now ≥ exp`.
    #[error("ticket has expired")]
    Expired,
    /// A holder-bound ticket came without a proof, or its proof does not
    /// verify under the bound key.
    #[error("holder proof missing or invalid")]
    BadProof,
    /// The proof's step is more than [`MAX_STEP_DRIFT`] from now.
    #[error("holder proof is for another time step")]
    StaleProof,
}

impl TicketError {
    /// The verdict this error reports.
    #[must_use]
    pub const fn verdict(&self) -> Verdict {
        match self {
            TicketError::Malformed(_) => Verdict::Malformed,
            TicketError::UnknownKey => Verdict::UnknownKey,
            TicketError::BadSignature => Verdict::BadSignature,
            TicketError::NotYetValid => Verdict::NotYetValid,
            TicketError::Expired => Verdict::Expired,
            TicketError::BadProof => Verdict::BadProof,
            TicketError::StaleProof => Verdict::StaleProof,
        }
    }
}

/// Which rule of the byte format a QR breaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Malformed {
    /// Longer than [`MAX_LEVEL2_BYTES`], or a level-1 ticket longer than
    /// [`MAX_TICKET_BYTES`].
    #[error("too many bytes")]
    TooLarge,
    /// Neither a tagged COSE_Sign1 nor a level-2 array.
    #[error("not a COSE_Sign1 ticket nor a level-2 wrapper")]
    UnknownForm,
    /// Tagged, but not with tag 18 (COSE_Sign1).
    #[error("CBOR tag is not 18 (COSE_Sign1)")]
    WrongTag,
    /// Not deterministic CBOR of the expected shape.
    #[error("{0}")]
    Cbor(CborError),
    /// The protected header is not exactly `{1: -8, 4: h'<4-byte kid>'}`.
    #[error("protected header must be exactly {{1: -8, 4: kid}}")]
    ProtectedHeader,
    /// The unprotected header is not the empty map.
    #[error("unprotected header must be empty")]
    UnprotectedHeader,
    /// A claim this format does not define.
    #[error("unknown claim {0}")]
    UnknownClaim(i64),
    /// A required claim is absent.
    #[error("missing claim {0}")]
    MissingClaim(&'static str),
    /// A claim has the wrong type or an out-of-range value.
    #[error("invalid value for claim {0}")]
    ClaimValue(&'static str),
    /// A level-2 wrapper around a ticket with no holder key: there is no key
    /// the proof could be checked against.
    #[error("level-2 wrapper around a ticket without a holder key")]
    UnboundLevel2,
}

impl From<CborError> for Malformed {
    fn from(e: CborError) -> Malformed {
        Malformed::Cbor(e)
    }
}

impl From<Malformed> for TicketError {
    fn from(m: Malformed) -> TicketError {
        TicketError::Malformed(m)
    }
}

/// A QR that passed every check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedTicket {
    /// The signed claims.
    pub claims: TicketClaims,
    /// The id of the issuer key that signed it.
    pub kid: Kid,
    /// The level-2 step, when the QR was a level-2 proof.
    pub proof_step: Option<u64>,
}

/// Why [`sign_level2`] cannot build a proof.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Level2Error {
    /// The ticket bytes do not parse.
    #[error("ticket does not parse: {0}")]
    Ticket(Malformed),
    /// The ticket has no holder key, so no proof can be checked.
    #[error("ticket is not bound to a holder key")]
    Unbound,
    /// The key pair is not the ticket's holder key.
    #[error("key pair is not the ticket's holder key")]
    NotTheHolder,
    /// The step does not fit the 5-byte budget (after year 6053).
    #[error("time step beyond u32")]
    StepOutOfRange,
}

/// The level-2 time step containing `unix_s`: `floor(unix_s / 30)`.
#[must_use]
pub const fn time_step(unix_s: u64) -> u64 {
    unix_s / TIME_STEP_S
}

/// Signs `claims` as a level-1 ticket with the issuer's key; the kid is
/// derived from the key, so it cannot disagree with it. Ed25519 is
/// deterministic: the same claims and key always give the same bytes.
#[must_use]
pub fn sign_ticket(claims: &TicketClaims, issuer: &Ed25519KeyPair) -> Vec<u8> {
    let kid = PublicKey::of(issuer).kid();
    let protected = encode_protected(kid);
    let payload = encode_claims(claims);
    let signature = issuer.sign(&sig_structure(&protected, &payload));
    let mut e = Encoder::new();
    e.tag(TAG_COSE_SIGN1);
    e.array(4);
    e.bytes(&protected);
    e.map(0);
    e.bytes(&payload);
    e.bytes(signature.as_ref());
    let ticket = e.into_bytes();
    assert!(
        ticket.len() <= WORST_CASE_TICKET_BYTES,
        "field limits bound the ticket to WORST_CASE_TICKET_BYTES"
    );
    ticket
}

/// Wraps a bound ticket in a level-2 proof for `step` (see [`time_step`]),
/// signed with the holder's key pair. The ticket's claims are read (not
/// verified) to check that the key is the ticket's holder key.
pub fn sign_level2(
    ticket: &[u8],
    holder: &Ed25519KeyPair,
    step: u64,
) -> Result<Vec<u8>, Level2Error> {
    let claims = read_claims_unverified(ticket).map_err(Level2Error::Ticket)?;
    let bound = claims.holder.ok_or(Level2Error::Unbound)?;
    if bound != PublicKey::of(holder) {
        return Err(Level2Error::NotTheHolder);
    }
    if u32::try_from(step).is_err() {
        return Err(Level2Error::StepOutOfRange);
    }
    let proof = holder.sign(&level2_message(ticket, step));
    let mut e = Encoder::new();
    e.array(3);
    e.bytes(ticket);
    e.uint(step);
    e.bytes(proof.as_ref());
    Ok(e.into_bytes())
}

/// The bytes a level-2 proof signs: `"OT-L2" ‖ SHA-256(ticket) ‖
/// u64_be(step)`, 45 bytes.
#[must_use]
pub fn level2_message(ticket: &[u8], step: u64) -> Vec<u8> {
    let mut message = Vec::with_capacity(LEVEL2_CONTEXT.len() + 32 + 8);
    message.extend_from_slice(LEVEL2_CONTEXT);
    message.extend_from_slice(digest::digest(&digest::SHA256, ticket).as_ref());
    message.extend_from_slice(&step.to_be_bytes());
    message
}

/// Parses a level-1 ticket and returns its claims **without checking any
/// signature or time**. For the holder's own app (to show what it holds)
/// and for tooling; a terminal must use [`verify_qr`].
pub fn read_claims_unverified(ticket: &[u8]) -> Result<TicketClaims, Malformed> {
    parse_ticket(ticket).map(|t| t.claims)
}

/// Verifies a scanned QR (level 1 or level 2) at `now_s` (unix seconds)
/// against the trusted issuer keys. Checks, in this order (SPEC.md §3.4):
///
/// 1. size ≤ [`MAX_LEVEL2_BYTES`] → else `malformed`;
/// 2. parse everything (wrapper, COSE_Sign1, headers, claims); a level-1
///    ticket ≤ [`MAX_TICKET_BYTES`]; a level-2 wrapper needs a bound ticket
///    → else `malformed`;
/// 3. at least one trusted key has the kid → else `unknown_key`;
/// 4. one of those keys verifies the issuer signature → else `bad_signature`;
/// 5. `nbf ≤ now` → else `not_yet_valid`; `now < exp` → else `expired`;
/// 6. a bound ticket has a proof signed by its holder key → else `bad_proof`;
/// 7. `|step − floor(now / 30)| ≤ 1` → else `stale_proof`.
pub fn verify_qr(
    qr: &[u8],
    keys: &VerifyingKeys,
    now_s: u64,
) -> Result<VerifiedTicket, TicketError> {
    if qr.len() > MAX_LEVEL2_BYTES {
        return Err(Malformed::TooLarge.into());
    }
    let (ticket, proof) = parse_qr(qr)?;
    let mut candidates = keys.with_kid(ticket.kid).peekable();
    if candidates.peek().is_none() {
        return Err(TicketError::UnknownKey);
    }
    let signed = sig_structure(ticket.protected, ticket.payload);
    if !candidates.any(|key| key.verifies(&signed, &ticket.signature)) {
        return Err(TicketError::BadSignature);
    }
    let validity = ticket.claims.validity;
    if now_s < validity.not_before_s {
        return Err(TicketError::NotYetValid);
    }
    if now_s >= validity.expires_s {
        return Err(TicketError::Expired);
    }
    let proof_step = match (ticket.claims.holder, proof) {
        (None, None) => None,
        (Some(_), None) => return Err(TicketError::BadProof),
        (None, Some(_)) => return Err(Malformed::UnboundLevel2.into()),
        (Some(holder), Some(proof)) => {
            let message = level2_message(ticket.bytes, proof.step);
            if !holder.verifies(&message, &proof.signature) {
                return Err(TicketError::BadProof);
            }
            if time_step(now_s).abs_diff(proof.step) > MAX_STEP_DRIFT {
                return Err(TicketError::StaleProof);
            }
            Some(proof.step)
        }
    };
    Ok(VerifiedTicket {
        claims: ticket.claims,
        kid: ticket.kid,
        proof_step,
    })
}

/// A parsed, not yet verified, level-1 ticket.
struct ParsedTicket<'a> {
    bytes: &'a [u8],
    protected: &'a [u8],
    kid: Kid,
    payload: &'a [u8],
    signature: [u8; ED25519_SIGNATURE_BYTES],
    claims: TicketClaims,
}

/// A parsed, not yet verified, level-2 proof.
struct Proof {
    step: u64,
    signature: [u8; ED25519_SIGNATURE_BYTES],
}

/// Parses a QR of either level. Size has been checked by the caller.
fn parse_qr(qr: &[u8]) -> Result<(ParsedTicket<'_>, Option<Proof>), Malformed> {
    const MAJOR_ARRAY: u8 = 4;
    const MAJOR_TAG: u8 = 6;
    let first = qr.first().ok_or(Malformed::Cbor(CborError::Truncated))?;
    match first >> 5 {
        MAJOR_TAG => Ok((parse_ticket(qr)?, None)),
        MAJOR_ARRAY => {
            let mut d = Decoder::new(qr);
            if d.array()? != 3 {
                return Err(CborError::UnexpectedType.into());
            }
            let ticket = d.bytes()?;
            let step = d.uint()?;
            let signature = d.bytes_exact::<ED25519_SIGNATURE_BYTES>()?;
            d.finish()?;
            let ticket = parse_ticket(ticket)?;
            if ticket.claims.holder.is_none() {
                return Err(Malformed::UnboundLevel2);
            }
            Ok((ticket, Some(Proof { step, signature })))
        }
        _ => Err(Malformed::UnknownForm),
    }
}

fn parse_ticket(bytes: &[u8]) -> Result<ParsedTicket<'_>, Malformed> {
    if bytes.len() > MAX_TICKET_BYTES {
        return Err(Malformed::TooLarge);
    }
    let mut d = Decoder::new(bytes);
    if d.tag()? != TAG_COSE_SIGN1 {
        return Err(Malformed::WrongTag);
    }
    if d.array()? != 4 {
        return Err(CborError::UnexpectedType.into());
    }
    let protected = d.bytes()?;
    let kid = parse_protected(protected)?;
    if d.map().map_err(|_| Malformed::UnprotectedHeader)? != 0 {
        return Err(Malformed::UnprotectedHeader);
    }
    let payload = d.bytes()?;
    let claims = parse_claims(payload)?;
    let signature = d.bytes_exact::<ED25519_SIGNATURE_BYTES>()?;
    d.finish()?;
    Ok(ParsedTicket {
        bytes,
        protected,
        kid,
        payload,
        signature,
        claims,
    })
}

fn encode_protected(kid: Kid) -> Vec<u8> {
    let mut e = Encoder::new();
    e.map(2);
    e.int(HEADER_ALG);
    e.int(ALG_EDDSA);
    e.int(HEADER_KID);
    e.bytes(kid.as_bytes());
    e.into_bytes()
}

/// The protected header must be byte-for-byte `{1: -8, 4: h'<kid>'}`:
/// nothing else (no `crit`, no other algorithm) is defined.
fn parse_protected(protected: &[u8]) -> Result<Kid, Malformed> {
    let header = || -> Result<Kid, CborError> {
        let mut d = Decoder::new(protected);
        let mut previous = None;
        let ok = d.map()? == 2
            && d.map_key(&mut previous)? == HEADER_ALG
            && d.int()? == ALG_EDDSA
            && d.map_key(&mut previous)? == HEADER_KID;
        if !ok {
            return Err(CborError::UnexpectedType);
        }
        let kid = d.bytes_exact()?;
        d.finish()?;
        Ok(Kid::from_bytes(kid))
    };
    header().map_err(|_| Malformed::ProtectedHeader)
}

/// `["Signature1", protected, h'', payload]`: what the issuer signs.
fn sig_structure(protected: &[u8], payload: &[u8]) -> Vec<u8> {
    let mut e = Encoder::new();
    e.array(4);
    e.text(SIGNATURE1_CONTEXT);
    e.bytes(protected);
    e.bytes(&[]);
    e.bytes(payload);
    e.into_bytes()
}

fn encode_claims(claims: &TicketClaims) -> Vec<u8> {
    let mut e = Encoder::new();
    e.map(if claims.holder.is_some() { 6 } else { 5 });
    // Keys in deterministic order: 1, 4, 5, 7, 8, then the negative key.
    e.int(CLAIM_ISS);
    e.text(claims.issuer.as_str());
    e.int(CLAIM_EXP);
    e.uint(claims.validity.expires_s);
    e.int(CLAIM_NBF);
    e.uint(claims.validity.not_before_s);
    e.int(CLAIM_CTI);
    e.bytes(claims.ticket_id.as_bytes());
    if let Some(holder) = claims.holder {
        e.int(CLAIM_CNF);
        e.map(1);
        e.int(CNF_COSE_KEY);
        e.map(3);
        e.int(KEY_KTY);
        e.int(KTY_OKP);
        e.int(KEY_CRV);
        e.int(CRV_ED25519);
        e.int(KEY_X);
        e.bytes(holder.as_bytes());
    }
    e.int(CLAIM_PRODUCT_CATEGORY);
    e.array(2);
    e.uint(u64::from(claims.product.0));
    e.uint(u64::from(claims.rider_category.0));
    e.into_bytes()
}

/// Claims are strict: every key must be one this format defines (a terminal
/// cannot know whether an unknown claim restricts the ticket).
fn parse_claims(payload: &[u8]) -> Result<TicketClaims, Malformed> {
    let mut d = Decoder::new(payload);
    let count = d.map()?;
    let mut previous = None;
    let mut issuer = None;
    let mut expires_s = None;
    let mut not_before_s = None;
    let mut ticket_id = None;
    let mut holder = None;
    let mut product_category = None;
    // `map` bounded `count` by the payload length, and keys must strictly
    // increase, so this loop ends after at most 6 useful rounds.
    for _ in 0..count {
        match d.map_key(&mut previous)? {
            CLAIM_ISS => {
                let text = d.text()?;
                issuer = Some(Issuer::parse(text).map_err(|_| Malformed::ClaimValue("iss"))?);
            }
            CLAIM_EXP => expires_s = Some(numeric_date(&mut d, "exp")?),
            CLAIM_NBF => not_before_s = Some(numeric_date(&mut d, "nbf")?),
            CLAIM_CTI => {
                let cti = d.bytes_exact().map_err(|_| Malformed::ClaimValue("cti"))?;
                ticket_id = Some(TicketId::from_bytes(cti));
            }
            CLAIM_CNF => {
                holder = Some(parse_cnf(&mut d).map_err(|_| Malformed::ClaimValue("cnf"))?)
            }
            CLAIM_PRODUCT_CATEGORY => {
                product_category = Some(
                    parse_product_category(&mut d).map_err(|_| Malformed::ClaimValue("-70000"))?,
                );
            }
            other => return Err(Malformed::UnknownClaim(other)),
        }
    }
    d.finish()?;
    let expires_s = expires_s.ok_or(Malformed::MissingClaim("exp"))?;
    let not_before_s = not_before_s.ok_or(Malformed::MissingClaim("nbf"))?;
    let (product, rider_category) = product_category.ok_or(Malformed::MissingClaim("-70000"))?;
    Ok(TicketClaims {
        issuer: issuer.ok_or(Malformed::MissingClaim("iss"))?,
        ticket_id: ticket_id.ok_or(Malformed::MissingClaim("cti"))?,
        validity: Validity::new(not_before_s, expires_s)
            .map_err(|_| Malformed::ClaimValue("nbf/exp"))?,
        holder,
        product,
        rider_category,
    })
}

/// A NumericDate restricted to whole seconds in `0..=MAX_NUMERIC_DATE_S`.
fn numeric_date(d: &mut Decoder<'_>, claim: &'static str) -> Result<u64, Malformed> {
    match d.uint() {
        Ok(s) if s <= MAX_NUMERIC_DATE_S => Ok(s),
        _ => Err(Malformed::ClaimValue(claim)),
    }
}

/// `{1: {1: 1, -1: 6, -2: h'<32 bytes>'}}`, exactly.
fn parse_cnf(d: &mut Decoder<'_>) -> Result<PublicKey, CborError> {
    let mut outer = None;
    if d.map()? != 1 || d.map_key(&mut outer)? != CNF_COSE_KEY || d.map()? != 3 {
        return Err(CborError::UnexpectedType);
    }
    let mut previous = None;
    let ok = d.map_key(&mut previous)? == KEY_KTY
        && d.int()? == KTY_OKP
        && d.map_key(&mut previous)? == KEY_CRV
        && d.int()? == CRV_ED25519
        && d.map_key(&mut previous)? == KEY_X;
    if !ok {
        return Err(CborError::UnexpectedType);
    }
    Ok(PublicKey::from_bytes(d.bytes_exact()?))
}

fn parse_product_category(
    d: &mut Decoder<'_>,
) -> Result<(ProductCode, RiderCategoryCode), CborError> {
    if d.array()? != 2 {
        return Err(CborError::UnexpectedType);
    }
    let product = u16::try_from(d.uint()?).map_err(|_| CborError::OutOfRange)?;
    let category = u8::try_from(d.uint()?).map_err(|_| CborError::OutOfRange)?;
    Ok((ProductCode(product), RiderCategoryCode(category)))
}

#[cfg(test)]
mod tests;
