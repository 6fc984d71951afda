//! A node's NATS login: an NKey derived from its event-signing key with a
//! context string, never the signing key itself. NKey login signs a nonce
//! the server chooses; were it the event-signing key, a malicious server
//! could choose bytes that verify as an event of that node.
//!
//! The derivation is one-way (BLAKE3 `derive_key`): the NKey reveals
//! nothing of the signing key, and a node needs no second secret file.
//! Both public keys are in the topology (`public_key`, `nats_key`).

use ed25519_dalek::SigningKey;

/// The derivation's context. Changing it changes every node's NKey.
pub const NKEY_CONTEXT: &str = "linkage 2026-12-07 NATS user NKey of a node, from its event-signing key";

/// The NATS user key pair of the node whose event-signing key is `signing`.
pub fn key_pair(signing: &SigningKey) -> nkeys::KeyPair {
    let seed = blake3::derive_key(NKEY_CONTEXT, signing.as_bytes());
    nkeys::KeyPair::new_from_raw(nkeys::KeyPairType::User, seed).expect("any 32 bytes seed an ed25519 key")
}

/// Its public key as NATS writes it (`U…`, 56 characters).
pub fn public_key(signing: &SigningKey) -> String {
    key_pair(signing).public_key()
}

/// Its seed as async-nats takes it (`SU…`): a secret, never written down.
pub fn seed(signing: &SigningKey) -> String {
    key_pair(signing).seed().expect("a key pair made from a seed has one")
}

/// Checks that `text` is a NATS user public key (`U…`, checksum right).
pub fn check_public_key(text: &str) -> Result<(), String> {
    match nkeys::KeyPair::from_public_key(text) {
        Ok(pair) if text.starts_with('U') && pair.key_pair_type() == nkeys::KeyPairType::User => Ok(()),
        _ => Err("must be a NATS user public key (56 characters, beginning with U)".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::{Signer, Verifier};

    #[test]
    fn the_nkey_is_derived_apart_from_the_signing_key() {
        let signing = SigningKey::from_bytes(&[7; 32]);
        assert_eq!(public_key(&signing), public_key(&SigningKey::from_bytes(&[7; 32])), "deterministic");
        assert_ne!(public_key(&signing), public_key(&SigningKey::from_bytes(&[8; 32])));
        check_public_key(&public_key(&signing)).unwrap();
        // What the server has the NKey sign does not verify as the node's
        // signature, and the reverse.
        let nonce = b"a nonce the server chose";
        let by_nkey = key_pair(&signing).sign(nonce).unwrap();
        let by_nkey = ed25519_dalek::Signature::from_slice(&by_nkey).unwrap();
        assert!(signing.verifying_key().verify(nonce, &by_nkey).is_err());
        let by_signing = signing.sign(nonce);
        assert!(key_pair(&signing).verify(nonce, &by_signing.to_bytes()).is_err());
    }

    #[test]
    fn only_user_public_keys_pass() {
        let signing = SigningKey::from_bytes(&[7; 32]);
        let mut wrong = public_key(&signing);
        wrong.replace_range(10..11, if &wrong[10..11] == "A" { "B" } else { "A" });
        for bad in [
            String::new(),
            wrong,
            seed(&signing),
            nkeys::KeyPair::new_from_raw(nkeys::KeyPairType::Account, [1; 32]).unwrap().public_key(),
            hex::encode(signing.verifying_key().as_bytes()),
        ] {
            assert!(check_public_key(&bad).is_err(), "{bad}");
        }
    }
}
