use super::*;

fn datagram(t: u64, v: Version) -> ObjectDatagram {
    let status = t & 0x20 != 0;
    ObjectDatagram {
        track_alias: 4,
        group_id: 70,
        object_id: if t & 4 != 0 || (status && t & 1 == 0 && v == Version::Draft14) {
            0
        } else {
            300
        },
        publisher_priority: (t & 8 == 0).then_some(7),
        properties: if t & 1 != 0 {
            trace()
        } else {
            Properties::new()
        },
        end_of_group: t & 2 != 0,
        payload: if status {
            DatagramPayload::Status(if t & 1 != 0 {
                ObjectStatus::Normal
            } else {
                ObjectStatus::EndOfTrack
            })
        } else {
            DatagramPayload::Payload(Bytes::from_static(b"abc"))
        },
    }
}

#[test]
fn datagram_types_per_draft() {
    let limits = Limits::default();
    for (v, types) in [
        (Version::Draft14, vec![0, 1, 2, 3, 4, 5, 6, 7, 0x20, 0x21]),
        (
            Version::Draft16,
            (0..=0x0F)
                .chain([0x20, 0x21, 0x24, 0x25, 0x28, 0x29, 0x2C, 0x2D])
                .collect(),
        ),
    ] {
        for t in 0..0x40u64 {
            let d = datagram(t, v);
            let header = encode_datagram_header_as(&d, v);
            if !types.contains(&t) {
                let wire = q(&[t, 1, 1, 1, 1, 1]);
                assert_eq!(
                    decode_datagram_as(wire.into(), v, &limits),
                    Err(DecodeError::InvalidDatagramType(t)),
                    "{v} {t:#x}"
                );
                continue;
            }
            let mut wire = header.expect("encodes").to_vec();
            assert_eq!(u64::from(wire[0]), t, "{v}");
            if let DatagramPayload::Payload(p) = &d.payload {
                wire.extend_from_slice(p);
            }
            assert_eq!(
                decode_datagram_as(wire.clone().into(), v, &limits),
                Ok(Datagram::Object(d.clone()))
            );
            let header_len = wire.len() - if t & 0x20 == 0 { 3 } else { 0 };
            for cut in 0..header_len {
                assert_eq!(
                    decode_datagram_as(wire[..cut].to_vec().into(), v, &limits),
                    Err(DecodeError::TruncatedStream),
                    "{v} {t:#x} cut {cut}"
                );
            }
        }
        let padding = q(&[crate::data::PADDING_DATAGRAM, 0]);
        assert!(decode_datagram_as(padding.into(), v, &limits).is_err());
    }
}

#[test]
fn draft14_datagram_specifics() {
    let v = Version::Draft14;
    let limits = Limits::default();
    // A status datagram always names its Object ID, even 0.
    let mut d = datagram(0x20, Version::Draft16);
    d.object_id = 0;
    assert_eq!(
        &encode_datagram_header_as(&d, v).expect("encodes")[..],
        &[0x20, 4, 0x40, 70, 0, 7, 4]
    );
    d.publisher_priority = None;
    assert!(matches!(
        encode_datagram_header_as(&d, v),
        Err(EncodeError::Invalid(_))
    ));
    // Object Does Not Exist.
    let dne = [0x20u8, 4, 5, 6, 7, 1];
    assert_eq!(
        decode_datagram_as(Bytes::copy_from_slice(&dne), v, &limits),
        Ok(Datagram::ObjectDoesNotExist {
            track_alias: 4,
            location: Location::new(5, 6)
        })
    );
    assert!(decode_datagram_as(Bytes::copy_from_slice(&dne), Version::Draft16, &limits).is_err());
    // End of Group status with extensions: draft-14 allows them, the model drops them.
    let eog = [0x21u8, 4, 5, 6, 7, 2, 4, 1, 3];
    let Ok(Datagram::Object(got)) = decode_datagram_as(Bytes::copy_from_slice(&eog), v, &limits)
    else {
        panic!("decodes")
    };
    assert!(got.properties.is_empty());
    assert_eq!(
        got.payload,
        DatagramPayload::Status(ObjectStatus::EndOfGroup)
    );
    // An empty extension block with the bit set.
    let empty = [0x01u8, 4, 5, 6, 7, 0, 9];
    assert_eq!(
        decode_datagram_as(Bytes::copy_from_slice(&empty), v, &limits),
        Err(DecodeError::EmptyProperties)
    );
}
