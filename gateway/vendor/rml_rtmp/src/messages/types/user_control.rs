use byteorder::{BigEndian, ReadBytesExt, WriteBytesExt};
use bytes::Bytes;
use std::io::{Cursor, Write};

use messages::{MessageDeserializationError, MessageSerializationError};
use messages::{RtmpMessage, UserControlEventType};
use time::RtmpTimestamp;

pub fn serialize(
    event_type: UserControlEventType,
    stream_id: Option<u32>,
    buffer_length: Option<u32>,
    timestamp: Option<RtmpTimestamp>,
) -> Result<Bytes, MessageSerializationError> {
    let mut cursor = Cursor::new(Vec::new());
    match event_type {
        UserControlEventType::StreamBegin => write_stream_event(&mut cursor, 0, stream_id)?,
        UserControlEventType::StreamEof => write_stream_event(&mut cursor, 1, stream_id)?,
        UserControlEventType::StreamDry => write_stream_event(&mut cursor, 2, stream_id)?,
        UserControlEventType::SetBufferLength => {
            write_length_event(&mut cursor, 3, stream_id, buffer_length)?
        }
        UserControlEventType::StreamIsRecorded => write_stream_event(&mut cursor, 4, stream_id)?,
        UserControlEventType::PingRequest => write_timestamp_event(&mut cursor, 6, timestamp)?,
        UserControlEventType::PingResponse => write_timestamp_event(&mut cursor, 7, timestamp)?,
        UserControlEventType::BufferEmpty => write_stream_event(&mut cursor, 31, stream_id)?,
        UserControlEventType::BufferReady => write_stream_event(&mut cursor, 32, stream_id)?,
    };

    let bytes = Bytes::from(cursor.into_inner());
    Ok(bytes)
}

pub fn deserialize(data: Bytes) -> Result<RtmpMessage, MessageDeserializationError> {
    let mut cursor = Cursor::new(data);
    let event_type = match cursor.read_u16::<BigEndian>()? {
        0 => UserControlEventType::StreamBegin,
        1 => UserControlEventType::StreamEof,
        2 => UserControlEventType::StreamDry,
        3 => UserControlEventType::SetBufferLength,
        4 => UserControlEventType::StreamIsRecorded,
        6 => UserControlEventType::PingRequest,
        7 => UserControlEventType::PingResponse,
        31 => UserControlEventType::BufferEmpty,
        32 => UserControlEventType::BufferReady,
        _ => {
            return Err(MessageDeserializationError::InvalidMessageFormat);
        }
    };

    let mut stream_id = None;
    let mut buffer_length = None;
    let mut timestamp = None;

    match event_type {
        UserControlEventType::StreamBegin => stream_id = Some(cursor.read_u32::<BigEndian>()?),
        UserControlEventType::StreamEof => stream_id = Some(cursor.read_u32::<BigEndian>()?),
        UserControlEventType::StreamDry => stream_id = Some(cursor.read_u32::<BigEndian>()?),
        UserControlEventType::StreamIsRecorded => stream_id = Some(cursor.read_u32::<BigEndian>()?),
        UserControlEventType::PingRequest => {
            timestamp = Some(RtmpTimestamp::new(cursor.read_u32::<BigEndian>()?))
        }
        UserControlEventType::PingResponse => {
            timestamp = Some(RtmpTimestamp::new(cursor.read_u32::<BigEndian>()?))
        }
        UserControlEventType::SetBufferLength => {
            stream_id = Some(cursor.read_u32::<BigEndian>()?);
            buffer_length = Some(cursor.read_u32::<BigEndian>()?);
        }
        UserControlEventType::BufferEmpty => stream_id = Some(cursor.read_u32::<BigEndian>()?),
        UserControlEventType::BufferReady => stream_id = Some(cursor.read_u32::<BigEndian>()?),
    }

    Ok(RtmpMessage::UserControl {
        event_type,
        stream_id,
        buffer_length,
        timestamp,
    })
}

fn write_stream_event<W: Write>(
    bytes: &mut W,
    event_id: u16,
    stream_id: Option<u32>,
) -> Result<(), MessageSerializationError> {
    debug_assert!(
        stream_id.is_some(),
        "Stream event attempted to be serialized with a None stream id!"
    );

    bytes.write_u16::<BigEndian>(event_id)?;
    match stream_id {
        Some(x) => bytes.write_u32::<BigEndian>(x)?,
        None => bytes.write_u32::<BigEndian>(0)?,
    };

    Ok(())
}

fn write_length_event<W: Write>(
    bytes: &mut W,
    event_id: u16,
    stream_id: Option<u32>,
    length: Option<u32>,
) -> Result<(), MessageSerializationError> {
    debug_assert!(
        stream_id.is_some(),
        "Buffer length event attempted to be serialized with a None stream id!"
    );
    debug_assert!(
        length.is_some(),
        "Buffer length event attempted to be serialized with a None length value!"
    );

    bytes.write_u16::<BigEndian>(event_id)?;
    match stream_id {
        Some(x) => bytes.write_u32::<BigEndian>(x)?,
        None => bytes.write_u32::<BigEndian>(0)?,
    };

    match length {
        Some(x) => bytes.write_u32::<BigEndian>(x)?,
        None => bytes.write_u32::<BigEndian>(0)?,
    };

    Ok(())
}

fn write_timestamp_event<W: Write>(
    bytes: &mut W,
    event_id: u16,
    timestamp: Option<RtmpTimestamp>,
) -> Result<(), MessageSerializationError> {
    debug_assert!(
        timestamp.is_some(),
        "Timestamp event attempted to be serialized with a None timestamp"
    );

    bytes.write_u16::<BigEndian>(event_id)?;
    match timestamp {
        Some(x) => bytes.write_u32::<BigEndian>(x.value)?,
        None => bytes.write_u32::<BigEndian>(0)?,
    };

    Ok(())
}
