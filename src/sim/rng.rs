//! A small deterministic generator (SplitMix64) for uuids, tokens and codes.
//!
//! Not cryptographic, on purpose: the simulator must give the same run for the same seed.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;

/// SplitMix64 (Steele, Lea, Flood 2014): one `u64` of state, a Weyl step and a mixer.
#[derive(Clone)]
pub(crate) struct Rng {
    state: u64,
}

impl Rng {
    pub(crate) fn new(seed: u64) -> Self {
        Self { state: seed }
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        mix(self.state)
    }

    /// A value in `0..bound` (`bound` > 0). The modulo bias is irrelevant for a simulator.
    pub(crate) fn below(&mut self, bound: u64) -> u64 {
        self.next_u64() % bound.max(1)
    }

    pub(crate) fn fill(&mut self, out: &mut [u8]) {
        for chunk in out.chunks_mut(8) {
            let bytes = self.next_u64().to_le_bytes();
            chunk.copy_from_slice(&bytes[..chunk.len()]);
        }
    }

    /// A version-4-shaped uuid, lower-case hex, `8-4-4-4-12`.
    pub(crate) fn uuid(&mut self) -> String {
        let mut b = [0u8; 16];
        self.fill(&mut b);
        b[6] = (b[6] & 0x0f) | 0x40;
        b[8] = (b[8] & 0x3f) | 0x80;
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut uuid = String::with_capacity(36);
        for (i, byte) in b.iter().enumerate() {
            if matches!(i, 4 | 6 | 8 | 10) {
                uuid.push('-');
            }
            uuid.push(char::from(HEX[usize::from(byte >> 4)]));
            uuid.push(char::from(HEX[usize::from(byte & 0x0f)]));
        }
        uuid
    }

    pub(crate) fn code(&mut self) -> String {
        format!("{:06}", self.below(1_000_000))
    }

    /// `n` random bytes as unpadded base64url (visible ASCII only).
    pub(crate) fn base64url(&mut self, n: usize) -> String {
        let mut bytes = vec![0u8; n];
        self.fill(&mut bytes);
        URL_SAFE_NO_PAD.encode(bytes)
    }
}

/// The SplitMix64 output mixer, also used to derive Google codes from a secret.
pub(crate) fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_stream_and_shapes() {
        let (mut a, mut b) = (Rng::new(7), Rng::new(7));
        assert_eq!(a.next_u64(), b.next_u64());
        let u = a.uuid();
        assert_eq!(u, b.uuid());
        assert_eq!(u.len(), 36);
        assert_eq!(&u[14..15], "4");
        assert!(matches!(&u[19..20], "8" | "9" | "a" | "b"));
        assert_eq!(u.matches('-').count(), 4);
        let c = a.code();
        assert_eq!(c.len(), 6);
        assert!(c.bytes().all(|d| d.is_ascii_digit()));
        assert_ne!(Rng::new(1).next_u64(), Rng::new(2).next_u64());
        // The reference value of SplitMix64 seeded with 0.
        assert_eq!(Rng::new(0).next_u64(), 0xE220_A839_7B1D_CDAF);
    }
}
