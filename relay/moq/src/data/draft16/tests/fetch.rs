use super::*;
use crate::data::draft16::extensions::to_block;

fn fobj(group: u64, sub: Option<u64>, object: u64, prio: u8, p: Properties) -> FetchObject {
    FetchObject::Object(FetchObjectHeader {
        group_id: group,
        subgroup_id: sub,
        object_id: object,
        publisher_priority: prio,
        properties: p,
        payload_length: if object.is_multiple_of(2) { 3 } else { 0 },
    })
}

#[test]
fn fetch_header_per_draft() {
    for v in BOTH {
        let mut wire = Vec::new();
        FetchHeader { request_id: 300 }
            .encode_as(&mut wire, v)
            .expect("encodes");
        assert_eq!(wire, q(&[5, 300]));
        assert_eq!(
            FetchHeader::decode_as(&mut &wire[..], v),
            Ok(FetchHeader { request_id: 300 })
        );
        assert_eq!(
            FetchHeader::decode_as(&mut &wire[..2], v),
            Err(DecodeError::Short)
        );
    }
}

#[test]
fn draft16_fetch_sequence_round_trips() {
    let v = Version::Draft16;
    let limits = Limits::default();
    let entries = vec![
        fobj(5, Some(0), 0, 1, Properties::new()),
        fobj(5, Some(0), 1, 1, trace()),
        fobj(5, None, 4, 7, Properties::new()),
        FetchObject::EndOfUnknownRange(Location::new(7, 2)),
        fobj(7, Some(3), 3, 7, Properties::new()),
        fobj(7, Some(4), 4, 2, Properties::new()),
        FetchObject::EndOfNonExistentRange(Location::new(9, 0)),
        fobj(2, Some(4), 8, 2, Properties::new()),
    ];
    let mut enc = FetchObjectState::default();
    let mut wire = Vec::new();
    for e in &entries {
        wire.extend_from_slice(&enc.encode_as(e, v).expect("encodes"));
    }
    let mut dec = FetchObjectState::default();
    let mut buf = &wire[..];
    for e in &entries {
        let before = dec.clone();
        // Every truncation is Short and leaves the state as it was.
        let whole = buf;
        let mut probe = whole;
        let got = dec.decode_as(&mut probe, &limits, v).expect("decodes");
        let used = whole.len() - probe.len();
        for cut in 0..used {
            let mut s = before.clone();
            assert_eq!(
                s.decode_as(&mut &whole[..cut], &limits, v),
                Err(DecodeError::Short)
            );
            assert_eq!(s.prior, before.prior);
        }
        assert_eq!(&got, &Decoded::Model(e.clone()));
        buf = &whole[used..];
    }
    assert!(buf.is_empty());
    // Group ID and Object ID are absolute: the first object names both, the fourth object
    // (same group 7 as the End of Range, Object ID 3 = 2 + 1) names neither, the last
    // names Group ID 2 even though it is below the prior group.
    let mut st = FetchObjectState::default();
    let first = st.encode_as(&entries[0], v).expect("first");
    assert_eq!(&first[..], &[0x08 | 0x04 | 0x10, 5, 0, 1, 3]);
}

#[test]
fn draft16_fetch_refusals() {
    let v = Version::Draft16;
    let limits = Limits::default();
    let mut st = FetchObjectState::default();
    // First object without a Group ID.
    assert!(matches!(
        st.decode_as(&mut &[0x14u8, 0, 1, 0][..], &limits, v),
        Err(DecodeError::NoPriorObject(_))
    ));
    // First object naming the prior Subgroup ID.
    assert!(matches!(
        st.decode_as(&mut &[0x1Du8, 1, 0, 1, 0][..], &limits, v),
        Err(DecodeError::NoPriorObject("Subgroup ID"))
    ));
    // Draft-20's End of Timed-Out Range is not a draft-16 value.
    let timed_out = q(&[0x20C, 1, 1]);
    assert!(matches!(
        st.decode_as(&mut &timed_out[..], &limits, v),
        Err(DecodeError::InvalidValue { .. })
    ));
}

#[test]
fn draft14_fetch_objects() {
    let v = Version::Draft14;
    let limits = Limits::default();
    let mut enc = FetchObjectState::default();
    let o = fobj(5, Some(2), 4, 9, trace());
    let wire = enc.encode_as(&o, v).expect("encodes");
    let mut expect = q(&[5, 2, 4]);
    expect.push(9);
    expect.extend(q(&[to_block(&trace(), v).expect("block").len() as u64]));
    expect.extend(to_block(&trace(), v).expect("block"));
    expect.extend(q(&[3]));
    assert_eq!(&wire[..], &expect[..]);
    let mut dec = FetchObjectState::default();
    assert_eq!(
        dec.decode_as(&mut &wire[..], &limits, v),
        Ok(Decoded::Model(o))
    );
    for cut in 0..wire.len() {
        assert_eq!(
            dec.decode_as(&mut &wire[..cut], &limits, v),
            Err(DecodeError::Short)
        );
    }
    // A datagram object's Subgroup ID is its Object ID; an empty object names status Normal.
    let d = fobj(5, None, 7, 9, Properties::new());
    let wire = enc.encode_as(&d, v).expect("encodes");
    assert_eq!(&wire[..], &[5, 7, 7, 9, 0, 0, 0]);
    assert_eq!(
        dec.decode_as(&mut &wire[..], &limits, v),
        Ok(Decoded::Model(fobj(5, Some(7), 7, 9, Properties::new())))
    );
    // Status objects are omitted; Object Does Not Exist may not carry extensions.
    for code in [1, 3, 4] {
        let w = [5, 0, 8, 9, 0, 0, code];
        assert_eq!(
            dec.decode_as(&mut &w[..], &limits, v),
            Ok(Decoded::Omitted {
                location: Location::new(5, 8),
                status: u64::from(code)
            })
        );
    }
    assert_eq!(
        dec.decode_as(&mut &[5u8, 0, 8, 9, 2, 4, 1, 0, 1][..], &limits, v),
        Err(DecodeError::PropertiesOnStatus)
    );
    // End of Range: nothing for a non-existent range, refused for an unknown one.
    let none = FetchObject::EndOfNonExistentRange(Location::new(6, 0));
    assert!(enc.encode_as(&none, v).expect("encodes").is_empty());
    assert!(matches!(
        enc.encode_as(&FetchObject::EndOfUnknownRange(Location::new(6, 0)), v),
        Err(EncodeError::Invalid(_))
    ));
}
