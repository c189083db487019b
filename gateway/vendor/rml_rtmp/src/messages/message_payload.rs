use super::types;
use bytes::Bytes;
use messages::RtmpMessage;
use messages::{MessageDeserializationError, MessageSerializationError};
use std::fmt;
use time::RtmpTimestamp;

/// Represents a raw RTMP message
#[derive(PartialEq)]
pub struct MessagePayload {
    pub timestamp: RtmpTimestamp,
    pub type_id: u8,
    pub message_stream_id: u32,
    pub data: Bytes,
}

impl fmt::Debug for MessagePayload {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f,
               "MessagePayload {{ timestamp: {:?}, type_id: {:?}, message_stream_id: {:?}, data: [..] }}",
               self.timestamp,
               self.type_id,
               self.message_stream_id)
    }
}

impl MessagePayload {
    /// Creates a new message payload with default values.
    ///
    /// This is mostly used when all information about a message is not known at creation time
    /// but instead is built up over time (e.g. RTMP chunk deserialization process).
    pub fn new() -> MessagePayload {
        MessagePayload {
            timestamp: RtmpTimestamp::new(0),
            message_stream_id: 0,
            type_id: 0,
            data: Bytes::new(),
        }
    }

    /// Deserializes the message data in the specified payload into its corresponding
    /// `RtmpMessage`.
    ///
    /// Note that flash clients (like Wowza's test client) lie and mark amf0 data and commands as
    /// amf3 values.  It is unknown why this happens, but any Amf3 command/data messages that are
    /// seen are deserialized as amf0.  So far this has not caused any issues.
    pub fn to_rtmp_message(&self) -> Result<RtmpMessage, MessageDeserializationError> {
        match self.type_id {
            1 => types::set_chunk_size::deserialize(self.data.clone()),
            2 => types::abort::deserialize(self.data.clone()),
            3 => types::acknowledgement::deserialize(self.data.clone()),
            4 => types::user_control::deserialize(self.data.clone()),
            5 => types::window_acknowledgement_size::deserialize(self.data.clone()),
            6 => types::set_peer_bandwidth::deserialize(self.data.clone()),
            8 => types::audio_data::deserialize(self.data.clone()),
            9 => types::video_data::deserialize(self.data.clone()),
            18 => types::amf0_data::deserialize(self.data.clone()),
            20 => types::amf0_command::deserialize(self.data.clone()),

            // For some reason Flash players (like wowza's test player) send messages
            // that are flagged as amf3 encoded, but in reality they are amf0 encoded
            15 => types::amf0_data::deserialize(self.data.clone()),

            17 => {
                // Fake amf3 commands usually seem to have a 0 in front of the amf0 data.
                if self.data.len() > 0 && self.data[0] == 0x00 {
                    let slice = self.data.slice(1..);
                    types::amf0_command::deserialize(slice)
                } else {
                    types::amf0_command::deserialize(self.data.clone())
                }
            }

            _ => Ok(RtmpMessage::Unknown {
                type_id: self.type_id,
                data: self.data.clone(),
            }),
        }
    }

    /// This creates a `MessagePayload` from an `RtmpMessage`.
    ///
    /// Since RTMP messages do not contain timestamp or the conversation stream id these must be
    /// provided at the time of creation.
    pub fn from_rtmp_message(
        message: RtmpMessage,
        timestamp: RtmpTimestamp,
        message_stream_id: u32,
    ) -> Result<MessagePayload, MessageSerializationError> {
        let type_id = message.get_message_type_id();

        let bytes = match message {
            RtmpMessage::Unknown { type_id: _, data } => data,

            RtmpMessage::Abort { stream_id } => types::abort::serialize(stream_id)?,

            RtmpMessage::Acknowledgement { sequence_number } => {
                types::acknowledgement::serialize(sequence_number)?
            }

            RtmpMessage::Amf0Command {
                command_name,
                transaction_id,
                command_object,
                additional_arguments,
            } => types::amf0_command::serialize(
                command_name,
                transaction_id,
                command_object,
                additional_arguments,
            )?,

            RtmpMessage::Amf0Data { values } => types::amf0_data::serialize(values)?,

            RtmpMessage::AudioData { data } => types::audio_data::serialize(data)?,

            RtmpMessage::SetChunkSize { size } => types::set_chunk_size::serialize(size)?,

            RtmpMessage::SetPeerBandwidth { size, limit_type } => {
                types::set_peer_bandwidth::serialize(limit_type, size)?
            }

            RtmpMessage::UserControl {
                event_type,
                stream_id,
                buffer_length,
                timestamp,
            } => types::user_control::serialize(event_type, stream_id, buffer_length, timestamp)?,

            RtmpMessage::VideoData { data } => types::video_data::serialize(data)?,

            RtmpMessage::WindowAcknowledgement { size } => {
                types::window_acknowledgement_size::serialize(size)?
            }
        };

        Ok(MessagePayload {
            data: bytes,
            type_id,
            message_stream_id,
            timestamp,
        })
    }
}
