//! Requests are signed exactly as the service verifies them.

use card_protocol::TerminalId;
use card_protocol::request_auth::{
    AuthHeaders, MasterKey, RequestAuthError, RequestParts, SigningKey, derive_terminal_key,
    verify_request,
};
use loadtest::service::{TAPS_PATH, sign_tap};

const NOW_S: u64 = 1_772_409_600;

fn check(
    body_signed: &[u8],
    body_sent: &[u8],
    terminal_signed: &str,
    key_of: &str,
    expected: Result<(), RequestAuthError>,
) {
    let master = MasterKey::new(&[3; 32]).expect("32 bytes");
    let signer = TerminalId::parse(terminal_signed).expect("id");
    let signed = sign_tap(
        &SigningKey::new(&derive_terminal_key(&master, &signer)),
        &signer,
        TAPS_PATH,
        body_signed.to_vec(),
        NOW_S,
    )
    .expect("signs");
    let headers = AuthHeaders::parse(&signed.terminal, &signed.timestamp, &signed.signature)
        .expect("the generator's headers are well formed");
    let verifier_key = derive_terminal_key(&master, &TerminalId::parse(key_of).expect("id"));
    let parts = RequestParts {
        method: "POST",
        path: TAPS_PATH,
        body: body_sent,
    };
    assert_eq!(
        verify_request(&verifier_key, &headers, &parts, NOW_S),
        expected
    );
}

#[test]
fn the_service_accepts_what_the_generator_signs() {
    check(
        b"{\"seq\":1}",
        b"{\"seq\":1}",
        "lt-bus-00001",
        "lt-bus-00001",
        Ok(()),
    );
}

#[test]
fn a_changed_body_or_another_terminal_key_fails() {
    check(
        b"{\"seq\":1}",
        b"{\"seq\":2}",
        "lt-bus-00001",
        "lt-bus-00001",
        Err(RequestAuthError::BadSignature),
    );
    check(
        b"{\"seq\":1}",
        b"{\"seq\":1}",
        "lt-bus-00001",
        "lt-bus-00002",
        Err(RequestAuthError::BadSignature),
    );
}
