use super::*;
use crate::data::draft16::extensions::{from_block, to_block};

#[test]
fn subgroup_header_types_per_draft() {
    for (v, count) in [(Version::Draft14, 12), (Version::Draft16, 24)] {
        let mut valid = 0;
        for t in 0..0x100u64 {
            if !is_subgroup_header_type(t, v) {
                continue;
            }
            valid += 1;
            let mut wire = q(&[t, 7, 9]);
            if t & 0x06 == 0x04 {
                wire.extend(q(&[300]));
            }
            if t & 0x20 == 0 {
                wire.push(5);
            }
            let h = SubgroupHeader::decode_as(&mut &wire[..], v).expect("valid type");
            assert_eq!(h.stream_type(), t);
            assert!(!h.first_object);
            assert_eq!(
                &encode_subgroup_header_as(&h, v).expect("encodes")[..],
                &wire[..]
            );
            for cut in 0..wire.len() {
                assert_eq!(
                    SubgroupHeader::decode_as(&mut &wire[..cut], v),
                    Err(DecodeError::Short)
                );
            }
        }
        assert_eq!(valid, count, "{v}");
    }
    for t in [0x05, 0x0F, 0x16, 0x17, 0x1E, 0x1F, 0x30, 0x3D, 0x50, 0x2F00] {
        let wire = q(&[t, 1, 2, 3]);
        assert_eq!(
            SubgroupHeader::decode_as(&mut &wire[..], Version::Draft14),
            Err(DecodeError::UnknownStreamType(t)),
            "{t:#x}"
        );
    }
    for t in [0x36, 0x37, 0x3E, 0x3F, 0x50, 0x54, 0x70] {
        assert!(!is_subgroup_header_type(t, Version::Draft16), "{t:#x}");
    }
}

#[test]
fn subgroup_header_model_values_drafts_cannot_carry() {
    let mut h = SubgroupHeader {
        track_alias: 2,
        group_id: 0,
        subgroup_id: SubgroupId::Explicit(0),
        publisher_priority: Some(0),
        has_properties: false,
        end_of_group: false,
        first_object: true,
    };
    // FIRST_OBJECT (draft-18 only) is dropped: draft-14 Section 10.4.2's example, type 0x14.
    assert_eq!(
        &encode_subgroup_header_as(&h, Version::Draft14).expect("encodes")[..],
        &[0x14, 2, 0, 0, 0]
    );
    h.publisher_priority = None;
    assert_eq!(
        &encode_subgroup_header_as(&h, Version::Draft16).expect("encodes")[..],
        &[0x34, 2, 0, 0]
    );
    assert!(matches!(
        encode_subgroup_header_as(&h, Version::Draft14),
        Err(EncodeError::Invalid(_))
    ));
    h.track_alias = 1 << 62;
    assert_eq!(
        encode_subgroup_header_as(&h, Version::Draft16),
        Err(EncodeError::VarintTooLarge(1 << 62))
    );
}

/// Draft-16 Section 10.5's second example: type 0x35, then two objects with Object ID Delta 0.
#[test]
fn draft16_example_with_extension_headers() {
    let h = SubgroupHeader {
        track_alias: 2,
        group_id: 0,
        subgroup_id: SubgroupId::Explicit(0),
        publisher_priority: None,
        has_properties: true,
        end_of_group: false,
        first_object: false,
    };
    let v = Version::Draft16;
    let wire = encode_subgroup_header_as(&h, v).expect("header").to_vec();
    assert_eq!(wire, [0x35, 2, 0, 0]);
    let first = SubgroupObject {
        object_id: 0,
        properties: trace(),
        payload_length: 4,
        object_status: ObjectStatus::Normal,
    };
    let second = SubgroupObject {
        object_id: 1,
        payload_length: 4,
        ..SubgroupObject::default()
    };
    let a = encode_subgroup_object_header_as(&h, None, &first, v).expect("first");
    // Delta 0; extensions: type 4 (delta 4), 2186796243; type 77 (delta 73), 14 bytes.
    let mut expect = vec![0];
    let block = q(&[4, 2_186_796_243, 73, 14]);
    expect.extend(q(&[block.len() as u64 + 14]));
    expect.extend(block);
    expect.extend(b"traceID:123456");
    expect.push(4);
    assert_eq!(&a[..], &expect[..]);
    let b = encode_subgroup_object_header_as(&h, Some(0), &second, v).expect("second");
    assert_eq!(&b[..], &[0, 0, 4]);
    let limits = Limits::default();
    let mut rest = &a[..];
    assert_eq!(
        SubgroupObject::decode_as(&mut rest, &h, None, &limits, v),
        Ok(Decoded::Model(first))
    );
    assert!(rest.is_empty());
    assert_eq!(
        SubgroupObject::decode_as(&mut &b[..], &h, Some(0), &limits, v),
        Ok(Decoded::Model(second))
    );
}

#[test]
fn extension_types_absolute_on_14_delta_on_16() {
    // Draft-14: absolute types, here out of order; the model keeps them ascending.
    let mut d14 = q(&[77, 2]);
    d14.extend(b"hi");
    d14.extend(q(&[4, 9]));
    let p = from_block(d14.into(), Version::Draft14).expect("draft-14 block");
    let kinds: Vec<u64> = p.pairs().iter().map(|k| k.kind).collect();
    assert_eq!(kinds, [4, 77]);
    let mut sorted = q(&[4, 9, 77, 2]);
    sorted.extend(b"hi");
    assert_eq!(to_block(&p, Version::Draft14).expect("encodes"), sorted);
    let mut d16 = q(&[4, 9, 73, 2]);
    d16.extend(b"hi");
    assert_eq!(to_block(&p, Version::Draft16).expect("encodes"), d16);
    assert_eq!(from_block(d16.into(), Version::Draft16), Ok(p));
    // A truncated pair inside the block.
    assert!(matches!(
        from_block(Bytes::from(q(&[5, 3, 1])), Version::Draft16),
        Err(DecodeError::KeyValueFormatting { .. })
    ));
}

#[test]
fn immutable_extensions_are_reencoded_per_draft() {
    for v in BOTH {
        // 0x0B holding {0x3C: 300 (delta/absolute 0x3C)} in v's form.
        let inner = q(&[0x3C, 300]);
        let mut block = q(&[0x0B, inner.len() as u64]);
        block.extend(&inner);
        let p = from_block(block.clone().into(), v).expect("decodes");
        let mut inner18 = Vec::new();
        encode_varint(0x3C, &mut inner18);
        encode_varint(300, &mut inner18);
        assert_eq!(
            p.pairs().get(0x0B),
            Some(&KvpValue::Bytes(inner18.into())),
            "{v}: nested pairs in draft-18's form in memory"
        );
        assert_eq!(to_block(&p, v).expect("encodes"), block, "{v}");
        // Immutable Extensions inside Immutable Extensions.
        let mut nested = q(&[0x0B, block.len() as u64]);
        nested.extend(&block);
        assert!(matches!(
            from_block(nested.into(), v),
            Err(DecodeError::KeyValueFormatting { key: 0x0B, .. })
        ));
    }
    let garbage = props(&[(0x0B, KvpValue::Bytes(Bytes::from_static(&[0x05, 0x09])))]);
    assert!(to_block(&garbage, Version::Draft16).is_err());
}

fn subgroup(has_properties: bool) -> SubgroupHeader {
    SubgroupHeader {
        track_alias: 1,
        group_id: 9,
        subgroup_id: SubgroupId::Zero,
        publisher_priority: Some(3),
        has_properties,
        end_of_group: false,
        first_object: false,
    }
}

#[test]
fn subgroup_objects_round_trip_and_truncate_to_short() {
    let limits = Limits::default();
    for v in BOTH {
        for has_properties in [false, true] {
            let h = subgroup(has_properties);
            let objects = [
                (0, Properties::new(), 5, ObjectStatus::Normal),
                (1, trace(), 0, ObjectStatus::Normal),
                (4, Properties::new(), 0, ObjectStatus::EndOfGroup),
                (70, trace(), 300, ObjectStatus::Normal),
                (1 << 40, Properties::new(), 0, ObjectStatus::EndOfTrack),
            ];
            let mut prev = None;
            for (id, p, len, status) in objects {
                let o = SubgroupObject {
                    object_id: id,
                    properties: if has_properties { p } else { Properties::new() },
                    payload_length: len,
                    object_status: status,
                };
                let wire = encode_subgroup_object_header_as(&h, prev, &o, v).expect("encodes");
                assert_eq!(
                    SubgroupObject::decode_as(&mut &wire[..], &h, prev, &limits, v),
                    Ok(Decoded::Model(o.clone()))
                );
                for cut in 0..wire.len() {
                    assert_eq!(
                        SubgroupObject::decode_as(&mut &wire[..cut], &h, prev, &limits, v),
                        Err(DecodeError::Short),
                        "{v} cut {cut}"
                    );
                }
                prev = Some(id);
            }
        }
    }
}

#[test]
fn object_statuses_per_draft() {
    let limits = Limits::default();
    let h = subgroup(true);
    // Draft-14's Object Does Not Exist: omitted, its ID counts for the next delta.
    let wire = q(&[2, 0, 0, 1]);
    assert_eq!(
        SubgroupObject::decode_as(&mut &wire[..], &h, Some(3), &limits, Version::Draft14),
        Ok(Decoded::Omitted {
            location: Location::new(9, 6),
            status: 1
        })
    );
    assert!(matches!(
        SubgroupObject::decode_as(&mut &wire[..], &h, Some(3), &limits, Version::Draft16),
        Err(DecodeError::InvalidValue { value: 1, .. })
    ));
    let with_ext = q(&[0, 2, 4, 1, 0, 1]);
    assert_eq!(
        SubgroupObject::decode_as(&mut &with_ext[..], &h, None, &limits, Version::Draft14),
        Err(DecodeError::PropertiesOnStatus)
    );
    // End of Group with extensions: allowed by draft-14 (dropped), refused by draft-16.
    let eog = q(&[0, 2, 4, 1, 0, 3]);
    assert_eq!(
        SubgroupObject::decode_as(&mut &eog[..], &h, None, &limits, Version::Draft14),
        Ok(Decoded::Model(SubgroupObject {
            object_id: 0,
            properties: Properties::new(),
            payload_length: 0,
            object_status: ObjectStatus::EndOfGroup,
        }))
    );
    assert_eq!(
        SubgroupObject::decode_as(&mut &eog[..], &h, None, &limits, Version::Draft16),
        Err(DecodeError::PropertiesOnStatus)
    );
    for code in [2, 5, 0x3F] {
        let w = q(&[0, 0, 0, code]);
        for v in BOTH {
            assert!(matches!(
                SubgroupObject::decode_as(&mut &w[..], &h, None, &limits, v),
                Err(DecodeError::InvalidValue { .. })
            ));
        }
    }
    // An Object ID past 2^62 - 1 cannot be re-sent: refused.
    let big = q(&[(1 << 62) - 1, 0, 1]);
    assert_eq!(
        SubgroupObject::decode_as(&mut &big[..], &h, Some(0), &limits, Version::Draft16),
        Err(DecodeError::IdOverflow("Object ID"))
    );
}

#[test]
fn unknown_stream_types_refused() {
    for v in BOTH {
        for t in [0x2F00, 0x132B_3E28, 0x00, 0x04, 0x06, 0x16, 0x1F, 0x40] {
            assert_eq!(
                stream_type(t, v),
                Err(DecodeError::UnknownStreamType(t)),
                "{v} {t:#x}"
            );
        }
        assert_eq!(stream_type(0x05, v), Ok(crate::data::StreamType::Fetch));
        assert_eq!(
            stream_type(0x1D, v),
            Ok(crate::data::StreamType::Subgroup(0x1D))
        );
    }
    assert!(stream_type(0x30, Version::Draft14).is_err());
    assert!(stream_type(0x30, Version::Draft16).is_ok());
}
