//! XXH32, the hash HAProxy 2.6 keys a resolution's answer records with
//! (`XXH32(rdata, len, type)` in `resolv_validate_dns_response`): the
//! records live in a tree ordered by that key, so servers pick addresses
//! in key order, not in answer order.

const P1: u32 = 0x9E37_79B1;
const P2: u32 = 0x85EB_CA77;
const P3: u32 = 0xC2B2_AE3D;
const P4: u32 = 0x27D4_EB2F;
const P5: u32 = 0x1656_67B1;

fn round(acc: u32, input: u32) -> u32 {
    acc.wrapping_add(input.wrapping_mul(P2))
        .rotate_left(13)
        .wrapping_mul(P1)
}

fn read32(b: &[u8]) -> u32 {
    u32::from_le_bytes([b[0], b[1], b[2], b[3]])
}

/// XXH32 of `data` with `seed` (the reference algorithm, little-endian
/// reads).
pub(crate) fn xxh32(data: &[u8], seed: u32) -> u32 {
    let mut stripes = data.chunks_exact(16);
    let mut h = if data.len() >= 16 {
        let mut v = [
            seed.wrapping_add(P1).wrapping_add(P2),
            seed.wrapping_add(P2),
            seed,
            seed.wrapping_sub(P1),
        ];
        for stripe in &mut stripes {
            for (i, acc) in v.iter_mut().enumerate() {
                *acc = round(*acc, read32(&stripe[4 * i..]));
            }
        }
        v[0].rotate_left(1)
            .wrapping_add(v[1].rotate_left(7))
            .wrapping_add(v[2].rotate_left(12))
            .wrapping_add(v[3].rotate_left(18))
    } else {
        seed.wrapping_add(P5)
    };
    // The length modulo 2^32, as the reference's `(U32)len`.
    h = h.wrapping_add(data.len() as u32);
    let rest = if data.len() >= 16 {
        stripes.remainder()
    } else {
        data
    };
    let mut words = rest.chunks_exact(4);
    for word in &mut words {
        h = h
            .wrapping_add(read32(word).wrapping_mul(P3))
            .rotate_left(17)
            .wrapping_mul(P4);
    }
    for &b in words.remainder() {
        h = h
            .wrapping_add(u32::from(b).wrapping_mul(P5))
            .rotate_left(11)
            .wrapping_mul(P1);
    }
    h ^= h >> 15;
    h = h.wrapping_mul(P2);
    h ^= h >> 13;
    h = h.wrapping_mul(P3);
    h ^ (h >> 16)
}

#[cfg(test)]
mod tests {
    use super::xxh32;

    /// Values printed by HAProxy 2.6's own include/import/xxhash.h.
    #[test]
    fn matches_haproxys_xxhash() {
        assert_eq!(xxh32(b"", 0), 0x02cc_5d05);
        assert_eq!(xxh32(b"a", 0), 0x550d_7456);
        assert_eq!(xxh32(b"abc", 0), 0x32d1_53ff);
        assert_eq!(xxh32(&[127, 0, 0, 11], 1), 0xa28e_cef4);
        assert_eq!(xxh32(&[127, 0, 0, 12], 1), 0x26c4_0711);
        assert_eq!(xxh32(&[127, 0, 0, 13], 1), 0x0e60_fb4e);
        let bytes: Vec<u8> = (0..40).collect();
        assert_eq!(xxh32(&bytes[..16], 28), 0x21ad_cf0c);
        assert_eq!(xxh32(&bytes, 28), 0x94c4_99a6);
    }
}
