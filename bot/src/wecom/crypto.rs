//! WeCom's callback crypto (the scheme of its WXBizMsgCrypt libraries, "加解密方案说明").
//!
//! - The **signature** (`msg_signature`) is the lowercase hex SHA-1 of the token, the timestamp,
//!   the nonce and the encrypted text, sorted and concatenated. It is checked in constant time
//!   before anything is decrypted.
//! - The **key** is `base64(EncodingAESKey + "=")`: 32 bytes. The 43-character key's last
//!   character carries two bits past the key's end that are not zero in real keys, so a strict
//!   base64 decoder refuses them; ours ignores them. The IV is the key's first 16 bytes.
//! - The **plaintext** is 16 random bytes ‖ the message's length (4 bytes, big-endian) ‖ the
//!   message ‖ the receive id (the corp id for a self-built app), checked after decryption.
//! - **AES-256-CBC with PKCS#7 padding to a multiple of 32 bytes** (not the cipher's 16): the pad
//!   value runs from 1 to 32, so a 16-byte unpad would refuse real traffic.

use aes::Aes256;
use aes::cipher::block_padding::NoPadding;
use aes::cipher::{BlockModeDecrypt, BlockModeEncrypt, KeyIvInit};
use base64::Engine;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use base64::engine::{DecodePaddingMode, general_purpose};
use sha1::{Digest, Sha1};
use subtle::ConstantTimeEq;

/// WeCom pads to a multiple of this (PKCS#7 with a 32-byte block).
pub const PAD_BLOCK: usize = 32;
/// The EncodingAESKey is always 43 characters of base64.
pub const ENCODING_AES_KEY_LEN: usize = 43;

/// Decodes the EncodingAESKey (43 characters, its trailing bits not zero) as WeCom's own
/// libraries do.
const LENIENT: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_decode_allow_trailing_bits(true)
        .with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Why a callback could not be read. None of these hands anything to the handler.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    #[error("the EncodingAESKey must be 43 base64 characters decoding to 32 bytes")]
    BadAesKey,
    #[error("the token must not be empty")]
    EmptyToken,
    #[error("the signature does not match")]
    BadSignature,
    #[error("the encrypted text is not base64")]
    BadBase64,
    #[error("the encrypted text is not a whole number of AES blocks")]
    BadCiphertextLength,
    #[error("the padding is not PKCS#7 to 32-byte blocks")]
    BadPadding,
    #[error("the decrypted text is shorter than its header says")]
    Truncated,
    #[error("the message is addressed to another receiver")]
    WrongReceiver,
    #[error("the message is not UTF-8")]
    NotUtf8,
}

/// Decodes a 43-character EncodingAESKey into the 32-byte AES key.
pub fn parse_encoding_aes_key(encoding_aes_key: &str) -> Result<[u8; 32], CryptoError> {
    let key = encoding_aes_key.trim();
    if key.len() != ENCODING_AES_KEY_LEN || !key.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(CryptoError::BadAesKey);
    }
    let bytes = LENIENT
        .decode(format!("{key}="))
        .map_err(|_| CryptoError::BadAesKey)?;
    bytes.try_into().map_err(|_| CryptoError::BadAesKey)
}

/// `sha1(sort(token, timestamp, nonce, encrypted))` in lowercase hex.
pub fn signature(token: &str, timestamp: &str, nonce: &str, encrypted: &str) -> String {
    let mut parts = [token, timestamp, nonce, encrypted];
    parts.sort_unstable();
    let mut sha = Sha1::new();
    for part in parts {
        sha.update(part.as_bytes());
    }
    sha.finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<String>()
}

/// One app's callback crypto: its token, AES key and receive id (the corp id).
#[derive(Clone)]
pub struct CallbackCrypto {
    token: String,
    key: [u8; 32],
    receive_id: String,
}

impl std::fmt::Debug for CallbackCrypto {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the token or the key.
        f.debug_struct("CallbackCrypto")
            .field("receive_id", &self.receive_id)
            .finish_non_exhaustive()
    }
}

impl CallbackCrypto {
    pub fn new(
        token: &str,
        encoding_aes_key: &str,
        receive_id: &str,
    ) -> Result<CallbackCrypto, CryptoError> {
        if token.is_empty() {
            return Err(CryptoError::EmptyToken);
        }
        Ok(CallbackCrypto {
            token: token.to_owned(),
            key: parse_encoding_aes_key(encoding_aes_key)?,
            receive_id: receive_id.to_owned(),
        })
    }

    pub fn receive_id(&self) -> &str {
        &self.receive_id
    }

    /// The signature WeCom computes for `encrypted` (also what the fake server sends).
    pub fn sign(&self, timestamp: &str, nonce: &str, encrypted: &str) -> String {
        signature(&self.token, timestamp, nonce, encrypted)
    }

    /// Whether `given` is the signature of `encrypted`, compared in constant time (hex case is
    /// ignored; WeCom sends lowercase).
    pub fn verify(&self, given: &str, timestamp: &str, nonce: &str, encrypted: &str) -> bool {
        let expected = self.sign(timestamp, nonce, encrypted);
        let given = given.trim().to_ascii_lowercase();
        expected.as_bytes().ct_eq(given.as_bytes()).into()
    }

    /// URL verification (the GET WeCom sends when the callback URL is saved): checks the
    /// signature over `echostr`, decrypts it and returns the plaintext to answer with.
    pub fn verify_url(
        &self,
        msg_signature: &str,
        timestamp: &str,
        nonce: &str,
        echostr: &str,
    ) -> Result<String, CryptoError> {
        // base64 has no spaces: a `+` read from an unencoded query string came back as one.
        let echostr = echostr.replace(' ', "+");
        if !self.verify(msg_signature, timestamp, nonce, &echostr) {
            return Err(CryptoError::BadSignature);
        }
        self.decrypt(&echostr)
    }

    /// A POSTed message: checks the signature over the envelope's `Encrypt` and decrypts it.
    pub fn open(
        &self,
        msg_signature: &str,
        timestamp: &str,
        nonce: &str,
        encrypted: &str,
    ) -> Result<String, CryptoError> {
        if !self.verify(msg_signature, timestamp, nonce, encrypted) {
            return Err(CryptoError::BadSignature);
        }
        self.decrypt(encrypted)
    }

    /// Decrypts base64 `encrypted` and checks the receive id. Call only after the signature
    /// was checked ([`CallbackCrypto::open`], [`CallbackCrypto::verify_url`]).
    pub fn decrypt(&self, encrypted: &str) -> Result<String, CryptoError> {
        let mut buf = STANDARD
            .decode(encrypted.trim())
            .or_else(|_| general_purpose::STANDARD_NO_PAD.decode(encrypted.trim()))
            .map_err(|_| CryptoError::BadBase64)?;
        if buf.is_empty() || buf.len() % 16 != 0 {
            return Err(CryptoError::BadCiphertextLength);
        }
        let plain = cbc::Decryptor::<Aes256>::new(&self.key.into(), &self.iv().into())
            .decrypt_padded::<NoPadding>(&mut buf)
            .map_err(|_| CryptoError::BadCiphertextLength)?;
        let plain = unpad(plain)?;
        // 16 random bytes, then the length.
        let header = plain.get(16..20).ok_or(CryptoError::Truncated)?;
        let len = u32::from_be_bytes([header[0], header[1], header[2], header[3]]) as usize;
        let msg_end = 20usize.checked_add(len).ok_or(CryptoError::Truncated)?;
        let msg = plain.get(20..msg_end).ok_or(CryptoError::Truncated)?;
        let receiver = &plain[msg_end..];
        if receiver != self.receive_id.as_bytes() {
            return Err(CryptoError::WrongReceiver);
        }
        String::from_utf8(msg.to_vec()).map_err(|_| CryptoError::NotUtf8)
    }

    /// Encrypts `msg` as WeCom does, with `random` as the 16 leading bytes (WeCom's side in the
    /// fake server, and passive replies).
    pub fn encrypt_with(&self, msg: &str, random: [u8; 16]) -> String {
        let receiver = self.receive_id.as_bytes();
        let mut plain = Vec::with_capacity(20 + msg.len() + receiver.len() + PAD_BLOCK);
        plain.extend_from_slice(&random);
        plain.extend_from_slice(&(msg.len() as u32).to_be_bytes());
        plain.extend_from_slice(msg.as_bytes());
        plain.extend_from_slice(receiver);
        let pad = PAD_BLOCK - plain.len() % PAD_BLOCK;
        plain.resize(plain.len() + pad, pad as u8);
        let len = plain.len();
        match cbc::Encryptor::<Aes256>::new(&self.key.into(), &self.iv().into())
            .encrypt_padded::<NoPadding>(&mut plain, len)
        {
            Ok(bytes) => STANDARD.encode(bytes),
            // `plain` was padded to whole blocks just above.
            Err(_) => unreachable_padding(),
        }
    }

    /// The IV: the key's first 16 bytes.
    fn iv(&self) -> [u8; 16] {
        let mut iv = [0u8; 16];
        iv.copy_from_slice(&self.key[..16]);
        iv
    }

    /// [`CallbackCrypto::encrypt_with`] with fresh random bytes.
    pub fn encrypt(&self, msg: &str) -> String {
        self.encrypt_with(msg, rand::random())
    }
}

#[cold]
fn unreachable_padding() -> ! {
    // Only reachable if the AES crates changed their block size.
    panic!("AES-256-CBC refused a whole number of 32-byte blocks")
}

/// Strips PKCS#7 padding to 32-byte blocks (pad values 1..=32, every pad byte equal).
fn unpad(plain: &[u8]) -> Result<&[u8], CryptoError> {
    let &last = plain.last().ok_or(CryptoError::BadPadding)?;
    let pad = last as usize;
    if pad == 0 || pad > PAD_BLOCK || pad > plain.len() {
        return Err(CryptoError::BadPadding);
    }
    let (body, padding) = plain.split_at(plain.len() - pad);
    if padding.iter().any(|&b| b != last) {
        return Err(CryptoError::BadPadding);
    }
    Ok(body)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    //! Sample values from WeCom's official callback library samples, the library the
    //! documentation's "加解密方案说明" links for download (github.com/sbzhu/weworkapi_python,
    //! `callback/Sample.py`; the same values are in its C#, Java and PHP samples). Sample 1 is
    //! the sample's code; sample 2 is the request quoted in its comments and in the
    //! documentation, with the settings of the C# sample (token `QDG6eK`). Only the values are
    //! used here, not the code.

    use super::*;

    /// Sample 1: the app's settings.
    const TOKEN: &str = "hJqcu3uJ9Tn2gXPmxx2w9kkCkCE2EPYo";
    const AES_KEY: &str = "6qkdMrq68nTKduznJYO1A37W2oEgpkMUvkttRToqhUt";
    const CORP_ID: &str = "ww1436e0e65a779aee";

    /// Sample 1, URL verification.
    const VERIFY_SIGNATURE: &str = "012bc692d0a58dd4b10f8dfe5c4ac00ae211ebeb";
    const VERIFY_TIMESTAMP: &str = "1476416373";
    const VERIFY_NONCE: &str = "47744683";
    const VERIFY_ECHOSTR: &str =
        "fsi1xnbH4yQh0+PJxcOdhhK6TDXkjMyhEPA7xB2TGz6b+g7xyAbEkRxN/3cNXW9qdqjnoVzEtpbhnFyq6SVHyA==";

    /// Sample 1, a POSTed message.
    const POST_SIGNATURE: &str = "0c3914025cb4b4d68103f6bfc8db550f79dcf48e";
    const POST_TIMESTAMP: &str = "1476422779";
    const POST_NONCE: &str = "1597212914";
    const POST_ENCRYPT: &str = "Kl7kjoSf6DMD1zh7rtrHjFaDapSCkaOnwu3bqLc5tAybhhMl9pFeK8NslNPVdMwmBQTNoW4mY7AIjeLvEl3NyeTkAgGzBhzTtRLNshw2AEew+kkYcD+Fq72Kt00fT0WnN87hGrW8SqGc+NcT3mu87Ha3dz1pSDi6GaUA6A0sqfde0VJPQbZ9U+3JWcoD4Z5jaU0y9GSh010wsHF8KZD24YhmZH4ch4Ka7ilEbjbfvhKkNL65HHL0J6EYJIZUC2pFrdkJ7MhmEbU2qARR4iQHE7wy24qy0cRX3Mfp6iELcDNfSsPGjUQVDGxQDCWjayJOpcwocugux082f49HKYg84EpHSGXAyh+/oxwaWbvL6aSDPOYuPDGOCI8jmnKiypE+";

    /// What the POSTed sample decrypts to (the sample's own reply text repeats it).
    const POST_PLAIN: &str = "<xml><ToUserName>ww1436e0e65a779aee</ToUserName><FromUserName>ChenJiaShun</FromUserName><CreateTime>1476422779</CreateTime><MsgType>text</MsgType><Content>你好</Content><MsgId>1456453720</MsgId><AgentID>1000002</AgentID></xml>";

    fn sample() -> CallbackCrypto {
        CallbackCrypto::new(TOKEN, AES_KEY, CORP_ID).unwrap()
    }

    #[test]
    fn the_sample_key_has_trailing_bits_a_strict_decoder_refuses() {
        assert!(
            STANDARD.decode(format!("{AES_KEY}=")).is_err(),
            "a strict decoder refuses WeCom's key"
        );
        let key = parse_encoding_aes_key(AES_KEY).unwrap();
        assert_eq!(key.len(), 32);
        assert!(matches!(
            parse_encoding_aes_key("short"),
            Err(CryptoError::BadAesKey)
        ));
        assert!(matches!(
            parse_encoding_aes_key(&format!("{}+", &AES_KEY[..42])),
            Err(CryptoError::BadAesKey)
        ));
    }

    #[test]
    fn url_verification_sample() {
        let c = sample();
        assert_eq!(
            c.sign(VERIFY_TIMESTAMP, VERIFY_NONCE, VERIFY_ECHOSTR),
            VERIFY_SIGNATURE
        );
        let echo = c
            .verify_url(
                VERIFY_SIGNATURE,
                VERIFY_TIMESTAMP,
                VERIFY_NONCE,
                VERIFY_ECHOSTR,
            )
            .unwrap();
        assert_eq!(echo, "1288432023552776189");
    }

    /// Sample 2 (the documentation's example).
    mod doc {
        pub const TOKEN: &str = "QDG6eK";
        pub const AES_KEY: &str = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C";
        pub const RECEIVE_ID: &str = "wx5823bf96d3bd56c7";
        /// `GET /cgi-bin/wxpush?msg_signature=5c45ff5e…&timestamp=1409659589&nonce=263014780&echostr=P9nAzC…%3D%3D`
        pub const VERIFY_SIGNATURE: &str = "5c45ff5e21c57e6ad56bac8758b79b1d9ac89fd3";
        pub const VERIFY_TIMESTAMP: &str = "1409659589";
        pub const VERIFY_NONCE: &str = "263014780";
        pub const VERIFY_ECHOSTR: &str = "P9nAzCzyDtyTWESHep1vC5X9xho/qYX3Zpb4yKa9SKld1DsH3Iyt3tP3zNdtp+4RPcs8TgAE7OaBO+FZXvnaqQ==";
        pub const POST_SIGNATURE: &str = "477715d11cdb4164915debcba66cb864d751f3e6";
        pub const POST_TIMESTAMP: &str = "1409659813";
        pub const POST_NONCE: &str = "1372623149";
        pub const POST_ENCRYPT: &str = "RypEvHKD8QQKFhvQ6QleEB4J58tiPdvo+rtK1I9qca6aM/wvqnLSV5zEPeusUiX5L5X/0lWfrf0QADHHhGd3QczcdCUpj911L3vg3W/sYYvuJTs3TUUkSUXxaccAS0qhxchrRYt66wiSpGLYL42aM6A8dTT+6k4aSknmPj48kzJs8qLjvd4Xgpue06DOdnLxAUHzM6+kDZ+HMZfJYuR+LtwGc2hgf5gsijff0ekUNXZiqATP7PF5mZxZ3Izoun1s4zG4LUMnvw2r+KqCKIw+3IQH03v+BCA9nMELNqbSf6tiWSrXJB3LAVGUcallcrw8V2t9EL4EhzJWrQUax5wLVMNS0+rUPA3k22Ncx4XXZS9o0MBH27Bo6BpNelZpS+/uh9KsNlY6bHCmJU9p8g7m3fVKn28H3KDYA5Pl/T8Z1ptDAVe0lXdQ2YoyyH2uyPIGHBZZIs2pDBS8R07+qN+E7Q==";
    }

    #[test]
    fn documentation_sample() {
        let c = CallbackCrypto::new(doc::TOKEN, doc::AES_KEY, doc::RECEIVE_ID).unwrap();
        assert_eq!(
            c.sign(
                doc::VERIFY_TIMESTAMP,
                doc::VERIFY_NONCE,
                doc::VERIFY_ECHOSTR
            ),
            doc::VERIFY_SIGNATURE
        );
        assert_eq!(
            c.verify_url(
                doc::VERIFY_SIGNATURE,
                doc::VERIFY_TIMESTAMP,
                doc::VERIFY_NONCE,
                doc::VERIFY_ECHOSTR
            )
            .unwrap(),
            "1616140317555161061"
        );
        // The same echostr read from a query string that was not percent-encoded ('+' → ' ').
        assert_eq!(
            c.verify_url(
                doc::VERIFY_SIGNATURE,
                doc::VERIFY_TIMESTAMP,
                doc::VERIFY_NONCE,
                &doc::VERIFY_ECHOSTR.replace('+', " ")
            )
            .unwrap(),
            "1616140317555161061"
        );
        let xml = c
            .open(
                doc::POST_SIGNATURE,
                doc::POST_TIMESTAMP,
                doc::POST_NONCE,
                doc::POST_ENCRYPT,
            )
            .unwrap();
        assert_eq!(
            xml,
            "<xml><ToUserName><![CDATA[wx5823bf96d3bd56c7]]></ToUserName>\n\
             <FromUserName><![CDATA[mycreate]]></FromUserName>\n\
             <CreateTime>1409659813</CreateTime>\n\
             <MsgType><![CDATA[text]]></MsgType>\n\
             <Content><![CDATA[hello]]></Content>\n\
             <MsgId>4561255354251345929</MsgId>\n\
             <AgentID>218</AgentID>\n\
             </xml>"
        );
    }

    #[test]
    fn post_sample_decrypts_to_the_message() {
        let c = sample();
        let xml = c
            .open(POST_SIGNATURE, POST_TIMESTAMP, POST_NONCE, POST_ENCRYPT)
            .unwrap();
        assert_eq!(xml, POST_PLAIN);
    }

    #[test]
    fn a_wrong_signature_decrypts_nothing() {
        let c = sample();
        let mut wrong = POST_SIGNATURE.to_owned();
        wrong.replace_range(0..1, "1");
        assert_eq!(
            c.open(&wrong, POST_TIMESTAMP, POST_NONCE, POST_ENCRYPT),
            Err(CryptoError::BadSignature)
        );
        // Another timestamp: the signature no longer covers it.
        assert_eq!(
            c.open(POST_SIGNATURE, "1476422780", POST_NONCE, POST_ENCRYPT),
            Err(CryptoError::BadSignature)
        );
        assert_eq!(
            c.verify_url("", VERIFY_TIMESTAMP, VERIFY_NONCE, VERIFY_ECHOSTR),
            Err(CryptoError::BadSignature)
        );
        // Uppercase hex is the same signature.
        assert!(c.verify(
            &POST_SIGNATURE.to_uppercase(),
            POST_TIMESTAMP,
            POST_NONCE,
            POST_ENCRYPT
        ));
    }

    #[test]
    fn another_corp_id_is_refused_after_decryption() {
        let c = CallbackCrypto::new(TOKEN, AES_KEY, "ww0000000000000000").unwrap();
        assert_eq!(
            c.open(POST_SIGNATURE, POST_TIMESTAMP, POST_NONCE, POST_ENCRYPT),
            Err(CryptoError::WrongReceiver)
        );
    }

    #[test]
    fn the_sample_pads_to_32_byte_blocks() {
        // Every sample is a whole number of 32-byte blocks, and a pad value above 16 occurs (a
        // 16-byte unpad would refuse that message).
        let mut pads = Vec::new();
        let c1 = sample();
        let c2 = CallbackCrypto::new(doc::TOKEN, doc::AES_KEY, doc::RECEIVE_ID).unwrap();
        for (c, encrypted) in [
            (&c1, POST_ENCRYPT),
            (&c1, VERIFY_ECHOSTR),
            (&c2, doc::POST_ENCRYPT),
            (&c2, doc::VERIFY_ECHOSTR),
        ] {
            let mut buf = STANDARD.decode(encrypted).unwrap();
            assert_eq!(buf.len() % PAD_BLOCK, 0);
            let plain = cbc::Decryptor::<Aes256>::new(&c.key.into(), &c.iv().into())
                .decrypt_padded::<NoPadding>(&mut buf)
                .unwrap();
            pads.push(*plain.last().unwrap());
        }
        assert!(pads.iter().all(|&p| (1..=32).contains(&p)), "{pads:?}");
        assert!(pads.iter().any(|&p| p > 16), "{pads:?}");
    }

    #[test]
    fn round_trip_pads_to_32_and_keeps_chinese() {
        let c = sample();
        for msg in ["", "a", "走访记录：张三家，3 人", &"长".repeat(700)] {
            let encrypted = c.encrypt_with(msg, [7; 16]);
            let raw = STANDARD.decode(&encrypted).unwrap();
            assert_eq!(raw.len() % PAD_BLOCK, 0);
            assert_eq!(c.decrypt(&encrypted).unwrap(), msg);
        }
        // A pad of exactly 32 (the plaintext a whole number of blocks): 20 + 26 + 18 = 64.
        let msg = "x".repeat(64 - 20 - CORP_ID.len());
        let raw = STANDARD.decode(c.encrypt_with(&msg, [1; 16])).unwrap();
        assert_eq!(raw.len(), 96);
        assert_eq!(c.decrypt(&STANDARD.encode(raw)).unwrap(), msg);
    }

    #[test]
    fn garbage_is_refused_not_panicked_on() {
        let c = sample();
        assert_eq!(c.decrypt("not base64!"), Err(CryptoError::BadBase64));
        assert_eq!(
            c.decrypt(&STANDARD.encode([0u8; 15])),
            Err(CryptoError::BadCiphertextLength)
        );
        assert_eq!(c.decrypt(""), Err(CryptoError::BadCiphertextLength));
        // Random blocks decrypt to garbage: a padding or length error, never a panic.
        for seed in 0u8..50 {
            let blocks: Vec<u8> = (0..64u8)
                .map(|i| i.wrapping_mul(31).wrapping_add(seed))
                .collect();
            assert!(c.decrypt(&STANDARD.encode(blocks)).is_err());
        }
        // A tampered ciphertext (the signature recomputed by an attacker who knows the token
        // but not the key) does not decrypt to the message.
        let encrypted = c.encrypt_with("<xml/>", [0; 16]);
        let mut raw = STANDARD.decode(&encrypted).unwrap();
        raw[40] ^= 1;
        assert_ne!(c.decrypt(&STANDARD.encode(raw)), Ok("<xml/>".to_owned()));
    }

    #[test]
    fn unpad_takes_32_byte_pads() {
        let mut block = vec![b'a'; 8];
        block.extend(std::iter::repeat_n(24u8, 24));
        assert_eq!(unpad(&block).unwrap(), b"aaaaaaaa");
        assert_eq!(unpad(&[33u8; 64]), Err(CryptoError::BadPadding));
        assert_eq!(unpad(&[0u8; 32]), Err(CryptoError::BadPadding));
        let mut uneven = vec![3u8; 32];
        uneven[30] = 2;
        assert_eq!(unpad(&uneven), Err(CryptoError::BadPadding));
    }
}
