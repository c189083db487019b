use bytes::Bytes;
use rml_amf0;
use rml_amf0::Amf0Value;
use std::io::Cursor;

use messages::RtmpMessage;
use messages::{MessageDeserializationError, MessageSerializationError};

pub fn serialize(
    command_name: String,
    transaction_id: f64,
    command_object: Amf0Value,
    mut additional_arguments: Vec<Amf0Value>,
) -> Result<Bytes, MessageSerializationError> {
    let mut values = vec![
        Amf0Value::Utf8String(command_name),
        Amf0Value::Number(transaction_id),
        command_object,
    ];

    values.append(&mut additional_arguments);
    let bytes = rml_amf0::serialize(&values)?;

    Ok(Bytes::from(bytes))
}

pub fn deserialize(data: Bytes) -> Result<RtmpMessage, MessageDeserializationError> {
    let mut cursor = Cursor::new(data);
    let mut arguments = rml_amf0::deserialize(&mut cursor)?;
    // A command is a name, a transaction ID and an object at least; fewer is malformed (a
    // remote peer's message must not panic the session).
    if arguments.len() < 3 {
        return Err(MessageDeserializationError::InvalidMessageFormat);
    }

    let command_name: String;
    let transaction_id: f64;
    let command_object: Amf0Value;
    {
        let mut arg_iterator = arguments.drain(..3);

        command_name = match arg_iterator
            .next()
            .ok_or(MessageDeserializationError::InvalidMessageFormat)?
        {
            Amf0Value::Utf8String(value) => value,
            _ => return Err(MessageDeserializationError::InvalidMessageFormat),
        };

        transaction_id = match arg_iterator
            .next()
            .ok_or(MessageDeserializationError::InvalidMessageFormat)?
        {
            Amf0Value::Number(value) => value,
            _ => return Err(MessageDeserializationError::InvalidMessageFormat),
        };

        command_object = arg_iterator
            .next()
            .ok_or(MessageDeserializationError::InvalidMessageFormat)?;
    }

    Ok(RtmpMessage::Amf0Command {
        command_name,
        transaction_id,
        command_object,
        additional_arguments: arguments,
    })
}
