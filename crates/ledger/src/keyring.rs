//! The ticket key ring: Ed25519 signing and verifying keys with rotation.
