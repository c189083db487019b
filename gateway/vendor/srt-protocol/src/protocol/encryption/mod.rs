pub mod key;
pub mod stream;
mod wrap;

use std::fmt::Debug;

use bytes::BytesMut;

use crate::{packet::*, settings::*};

use stream::KeyMaterialError;

#[derive(Debug, Eq, PartialEq)]
pub enum DecryptionError {
    // "Tried to decrypt but key was none"
    UnexpectedUnencryptedPacket(DataPacket),
    UnexpectedEncryptedPacket(DataPacket),
    EncryptionFailure,
    DecryptionFailure,
}

#[derive(Debug)]
pub struct Decryption(Option<(StreamEncryptionKeys, KeySettings)>);

impl Decryption {
    pub fn new(settings: Option<CipherSettings>) -> Self {
        Self(settings.map(|settings| (settings.stream_keys, settings.key_settings)))
    }

    pub fn decrypt(&self, packet: DataPacket) -> Result<(usize, DataPacket), DecryptionError> {
        use DecryptionError::*;
        let mut packet = packet;
        match (packet.encryption, &self.0) {
            (DataEncryption::None, None) => Ok((0, packet)),
            (DataEncryption::None, Some(_)) => Err(UnexpectedUnencryptedPacket(packet)),
            (DataEncryption::Even | DataEncryption::Odd, None) => {
                Err(UnexpectedEncryptedPacket(packet))
            }
            (selected_sek, Some((stream_keys, _))) => {
                // this requires an extra copy here...maybe DataPacket should have a BytesMut in it instead...
                let mut data = BytesMut::with_capacity(packet.payload.len());
                data.extend_from_slice(&packet.payload[..]);
                let bytes = stream_keys
                    .decrypt(selected_sek, packet.seq_number, &mut data)
                    .ok_or(DecryptionFailure)?;
                packet.encryption = DataEncryption::None;
                packet.payload = data.freeze();
                Ok((bytes, packet))
            }
        }
    }

    pub fn refresh_key_material(
        &mut self,
        keying_material: KeyingMaterialMessage,
    ) -> Result<Option<KeyingMaterialMessage>, KeyMaterialError> {
        let (stream_keys, key_settings) = self.0.as_mut().ok_or(KeyMaterialError::NoKeys)?;
        *stream_keys = StreamEncryptionKeys::unwrap_from(key_settings, &keying_material)?;
        Ok(Some(keying_material))
    }
}

#[derive(Debug)]
pub struct Encryption(Option<EncryptionState>);

#[derive(Debug)]
struct EncryptionState {
    key_settings: KeySettings,
    key_refresh: KeyMaterialRefreshSettings,
    stream_keys: StreamEncryptionKeys,
    active_sek: DataEncryption,
    packets_until_pre_announcement: usize,
    packets_until_transmit: usize,
    packets_until_key_switch: usize,
    last_key_material: Option<KeyingMaterialMessage>,
}

impl EncryptionState {
    fn try_encrypt_packet(&mut self, mut packet: DataPacket) -> Option<(usize, DataPacket)> {
        // this requires an extra copy here...maybe DataPacket should have a BytesMut in it instead...
        let mut data = BytesMut::with_capacity(packet.payload.len());
        data.extend_from_slice(&packet.payload[..]);
        let bytes = self
            .stream_keys
            .encrypt(self.active_sek, packet.seq_number, &mut data)?;
        packet.encryption = self.active_sek;
        packet.payload = data.freeze();
        Some((bytes, packet))
    }

    fn try_schedule_pre_announcment(&mut self) {
        if self.packets_until_pre_announcement == 0 {
            self.packets_until_pre_announcement = self.key_refresh.period();
            self.packets_until_transmit = 0;

            if self.last_key_material.is_none() {
                self.last_key_material = self
                    .stream_keys
                    .commission_next_key(self.active_sek, &self.key_settings);
            }
        }
    }

    fn try_send_key_material(&mut self) -> Option<KeyingMaterialMessage> {
        let km = self.last_key_material.as_ref()?;
        if self.packets_until_transmit == 0 {
            self.packets_until_transmit =
                std::cmp::min(self.key_refresh.pre_announcement_period(), 1_000);
            Some(km.clone())
        } else {
            self.packets_until_transmit -= 1;
            None
        }
    }

    fn try_switch_stream_keys(&mut self) {
        use DataEncryption::*;
        if self.packets_until_key_switch == 0 {
            self.packets_until_key_switch = self.key_refresh.period();
            if self.last_key_material.is_none() {
                self.active_sek = match self.active_sek {
                    Even => Odd,
                    Odd => Even,
                    None => None,
                };
            }
        }
    }
}

impl Encryption {
    pub fn new(settings: Option<CipherSettings>) -> Self {
        Self(settings.map(|settings| EncryptionState {
            key_settings: settings.key_settings,
            key_refresh: settings.key_refresh.clone(),
            stream_keys: settings.stream_keys,
            active_sek: DataEncryption::Even,

            packets_until_pre_announcement: settings.key_refresh.period()
                - settings.key_refresh.pre_announcement_period(),
            packets_until_transmit: 0,
            packets_until_key_switch: settings.key_refresh.period(),
            last_key_material: None,
        }))
    }

    pub fn encrypt(
        &mut self,
        packet: DataPacket,
    ) -> Option<(usize, DataPacket, Option<KeyingMaterialMessage>)> {
        match &mut self.0 {
            Some(this) => {
                let (bytes, packet) = this.try_encrypt_packet(packet)?;

                this.try_schedule_pre_announcment();
                this.try_switch_stream_keys();
                let km = this.try_send_key_material();

                this.packets_until_pre_announcement -= 1;
                this.packets_until_key_switch -= 1;

                Some((bytes, packet, km))
            }
            None => Some((0, packet, None)),
        }
    }

    pub fn handle_key_refresh_response(
        &mut self,
        keying_material: KeyingMaterialMessage,
    ) -> Result<(), KeyMaterialError> {
        use KeyMaterialError::*;
        if let Some(settings) = self.0.as_mut() {
            let expected_key_material = settings.last_key_material.as_ref().ok_or(NoKeys)?;
            if keying_material == *expected_key_material {
                settings.packets_until_transmit = 0;
                settings.last_key_material = None;
            } else {
                return Err(InvalidRefreshResponse(keying_material));
            }
        }
        Ok(())
    }
}
