//! The callback's XML: the encrypted envelope WeCom POSTs, and the decrypted messages and
//! events ("接收消息与事件": 消息格式, 事件格式) read into one enum, [`WecomInbound`].
//!
//! Every field is read as text and converted here, so CDATA or not, surrounding whitespace and
//! numbers in CDATA (`<AgentID><![CDATA[218]]></AgentID>`) all read the same. quick-xml neither
//! fetches external entities nor expands a DTD's.

use serde::Deserialize;

/// Why a callback body could not be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum InboundError {
    #[error("not well-formed XML: {0}")]
    Xml(String),
    #[error("<{0}> is missing")]
    Missing(&'static str),
    #[error("<{0}> is not a valid value")]
    Invalid(&'static str),
}

/// The POSTed envelope: `<xml><ToUserName/><Encrypt/><AgentID/></xml>`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Envelope {
    /// The corp id (the receive id, checked again inside the ciphertext).
    pub to_user_name: Option<String>,
    pub encrypt: String,
    pub agent_id: Option<String>,
}

#[derive(Deserialize)]
struct RawEnvelope {
    #[serde(rename = "ToUserName")]
    to_user_name: Option<String>,
    #[serde(rename = "Encrypt")]
    encrypt: Option<String>,
    #[serde(rename = "AgentID")]
    agent_id: Option<String>,
}

impl Envelope {
    pub fn parse(xml: &str) -> Result<Envelope, InboundError> {
        let raw: RawEnvelope =
            quick_xml::de::from_str(xml).map_err(|e| InboundError::Xml(e.to_string()))?;
        Ok(Envelope {
            to_user_name: nonempty(raw.to_user_name),
            encrypt: nonempty(raw.encrypt).ok_or(InboundError::Missing("Encrypt"))?,
            agent_id: nonempty(raw.agent_id),
        })
    }
}

/// One decrypted callback: who sent it, when, and what.
#[derive(Clone, Debug, PartialEq)]
pub struct Inbound {
    /// The member's WeCom UserID (`FromUserName`).
    pub user_id: String,
    /// The corp id (`ToUserName`).
    pub corp_id: String,
    /// The app (`AgentID`), when the message names it.
    pub agent_id: Option<i64>,
    /// Seconds since the epoch (`CreateTime`).
    pub create_time: i64,
    /// Ordinary messages carry a `MsgId`; events do not.
    pub msg_id: Option<String>,
    pub message: WecomInbound,
}

/// One answer of a vote or multiple-choice card (`SelectedItems`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SelectedOption {
    pub question_key: String,
    pub option_ids: Vec<String>,
}

/// What a member did in the app's conversation.
#[derive(Clone, Debug, PartialEq)]
pub enum WecomInbound {
    Text {
        content: String,
    },
    /// A photo; fetch it with `media/get` (media ids live three days).
    Image {
        media_id: String,
        pic_url: Option<String>,
    },
    /// A voice note (AMR); `format` as WeCom says.
    Voice {
        media_id: String,
        format: Option<String>,
    },
    Video {
        media_id: String,
        thumb_media_id: Option<String>,
    },
    /// A file (not in the self-built app's documented list, but sent by some clients).
    File {
        media_id: String,
        file_name: Option<String>,
        size: Option<u64>,
    },
    /// A location picked in the chat: `Location_X` is the latitude, `Location_Y` the longitude.
    Location {
        latitude: f64,
        longitude: f64,
        scale: Option<u32>,
        label: Option<String>,
    },
    Link {
        title: Option<String>,
        url: String,
    },
    /// A click on the app menu (`event` / `click`): the menu item's key.
    MenuClick {
        key: String,
    },
    /// A press on a template card's button (`template_card_event`): the card's task id and the
    /// pressed button's key; `response_code` lets `update_template_card` show the choice (once,
    /// within 72 hours).
    CardPress {
        task_id: String,
        key: String,
        card_type: Option<String>,
        response_code: Option<String>,
        selected: Vec<SelectedOption>,
    },
    /// The member opened the app's conversation (`enter_agent`).
    EnterAgent,
    /// Added to the app's visible range (`subscribe`).
    Subscribe,
    /// Removed from it (`unsubscribe`): messages to them will not arrive.
    Unsubscribe,
    /// The periodic position report (`LOCATION` event) when the app asks for it.
    ReportedLocation {
        latitude: f64,
        longitude: f64,
        precision: Option<f64>,
    },
    /// Any other event (menu views, scans, approvals…), with its key.
    OtherEvent {
        event: String,
        key: Option<String>,
    },
    /// A message type Gridline does not read (or one whose fields were unreadable).
    Unsupported {
        msg_type: String,
    },
}

impl WecomInbound {
    /// What kind of input this is, for logs (never its content).
    pub fn kind(&self) -> &'static str {
        match self {
            WecomInbound::Text { .. } => "text",
            WecomInbound::Image { .. } => "image",
            WecomInbound::Voice { .. } => "voice",
            WecomInbound::Video { .. } => "video",
            WecomInbound::File { .. } => "file",
            WecomInbound::Location { .. } => "location",
            WecomInbound::Link { .. } => "link",
            WecomInbound::MenuClick { .. } => "menu_click",
            WecomInbound::CardPress { .. } => "card_press",
            WecomInbound::EnterAgent => "enter_agent",
            WecomInbound::Subscribe => "subscribe",
            WecomInbound::Unsubscribe => "unsubscribe",
            WecomInbound::ReportedLocation { .. } => "reported_location",
            WecomInbound::OtherEvent { .. } => "other_event",
            WecomInbound::Unsupported { .. } => "unsupported",
        }
    }
}

impl Inbound {
    /// Reads a decrypted message or event.
    pub fn parse(xml: &str) -> Result<Inbound, InboundError> {
        let raw: RawMessage =
            quick_xml::de::from_str(xml).map_err(|e| InboundError::Xml(e.to_string()))?;
        let user_id =
            nonempty(raw.from_user_name.clone()).ok_or(InboundError::Missing("FromUserName"))?;
        let corp_id =
            nonempty(raw.to_user_name.clone()).ok_or(InboundError::Missing("ToUserName"))?;
        let create_time = number::<i64>(raw.create_time.as_deref(), "CreateTime")?
            .ok_or(InboundError::Missing("CreateTime"))?;
        let msg_type = nonempty(raw.msg_type.clone())
            .ok_or(InboundError::Missing("MsgType"))?
            .to_ascii_lowercase();
        let agent_id = number::<i64>(raw.agent_id.as_deref(), "AgentID")?;
        let msg_id = nonempty(raw.msg_id.clone());
        let message = match raw.message(&msg_type) {
            Ok(m) => m,
            Err(e) => {
                tracing::warn!(msg_type, error = %e, "WeCom message with unreadable fields");
                WecomInbound::Unsupported { msg_type }
            }
        };
        Ok(Inbound {
            user_id,
            corp_id,
            agent_id,
            create_time,
            msg_id,
            message,
        })
    }

    /// The key a repeated delivery of this callback shares (WeCom retries a callback it got
    /// no answer to within 5 s, three times): the `MsgId` for messages, the sender, time and
    /// event for events (as WeCom's documentation recommends).
    pub fn dedupe_key(&self) -> String {
        if let Some(id) = &self.msg_id {
            return format!("wecom:m:{id}");
        }
        let what = match &self.message {
            WecomInbound::MenuClick { key } => format!("click:{key}"),
            WecomInbound::CardPress { task_id, key, .. } => format!("card:{task_id}:{key}"),
            WecomInbound::OtherEvent { event, key } => {
                format!("{event}:{}", key.as_deref().unwrap_or(""))
            }
            WecomInbound::EnterAgent => "enter_agent".to_owned(),
            WecomInbound::Subscribe => "subscribe".to_owned(),
            WecomInbound::Unsubscribe => "unsubscribe".to_owned(),
            WecomInbound::ReportedLocation { .. } => "location".to_owned(),
            other => other.kind().to_owned(),
        };
        format!("wecom:e:{}:{}:{what}", self.user_id, self.create_time)
    }
}

#[derive(Deserialize, Default)]
struct RawMessage {
    #[serde(rename = "ToUserName")]
    to_user_name: Option<String>,
    #[serde(rename = "FromUserName")]
    from_user_name: Option<String>,
    #[serde(rename = "CreateTime")]
    create_time: Option<String>,
    #[serde(rename = "MsgType")]
    msg_type: Option<String>,
    #[serde(rename = "MsgId")]
    msg_id: Option<String>,
    #[serde(rename = "AgentID")]
    agent_id: Option<String>,
    #[serde(rename = "Content")]
    content: Option<String>,
    #[serde(rename = "PicUrl")]
    pic_url: Option<String>,
    #[serde(rename = "MediaId")]
    media_id: Option<String>,
    #[serde(rename = "Format")]
    format: Option<String>,
    #[serde(rename = "ThumbMediaId")]
    thumb_media_id: Option<String>,
    #[serde(rename = "FileName")]
    file_name: Option<String>,
    #[serde(rename = "FileSize")]
    file_size: Option<String>,
    #[serde(rename = "Location_X")]
    location_x: Option<String>,
    #[serde(rename = "Location_Y")]
    location_y: Option<String>,
    #[serde(rename = "Scale")]
    scale: Option<String>,
    #[serde(rename = "Label")]
    label: Option<String>,
    #[serde(rename = "Title")]
    title: Option<String>,
    #[serde(rename = "Url")]
    url: Option<String>,
    #[serde(rename = "Event")]
    event: Option<String>,
    #[serde(rename = "EventKey")]
    event_key: Option<String>,
    #[serde(rename = "TaskId")]
    task_id: Option<String>,
    #[serde(rename = "CardType")]
    card_type: Option<String>,
    #[serde(rename = "ResponseCode")]
    response_code: Option<String>,
    #[serde(rename = "SelectedItems")]
    selected_items: Option<RawSelectedItems>,
    #[serde(rename = "Latitude")]
    latitude: Option<String>,
    #[serde(rename = "Longitude")]
    longitude: Option<String>,
    #[serde(rename = "Precision")]
    precision: Option<String>,
}

#[derive(Deserialize, Default)]
struct RawSelectedItems {
    #[serde(rename = "SelectedItem", default)]
    items: Vec<RawSelectedItem>,
}

#[derive(Deserialize, Default)]
struct RawSelectedItem {
    #[serde(rename = "QuestionKey")]
    question_key: Option<String>,
    #[serde(rename = "OptionIds")]
    option_ids: Option<RawOptionIds>,
}

#[derive(Deserialize, Default)]
struct RawOptionIds {
    #[serde(rename = "OptionId", default)]
    ids: Vec<String>,
}

impl RawMessage {
    fn message(self, msg_type: &str) -> Result<WecomInbound, InboundError> {
        let media_id = || nonempty(self.media_id.clone()).ok_or(InboundError::Missing("MediaId"));
        Ok(match msg_type {
            "text" => WecomInbound::Text {
                content: self.content.clone().unwrap_or_default(),
            },
            "image" => WecomInbound::Image {
                media_id: media_id()?,
                pic_url: nonempty(self.pic_url.clone()),
            },
            "voice" => WecomInbound::Voice {
                media_id: media_id()?,
                format: nonempty(self.format.clone()),
            },
            "video" => WecomInbound::Video {
                media_id: media_id()?,
                thumb_media_id: nonempty(self.thumb_media_id.clone()),
            },
            "file" => WecomInbound::File {
                media_id: media_id()?,
                file_name: nonempty(self.file_name.clone()),
                size: number(self.file_size.as_deref(), "FileSize")?,
            },
            "location" => WecomInbound::Location {
                latitude: coordinate(self.location_x.as_deref(), "Location_X", 90.0)?,
                longitude: coordinate(self.location_y.as_deref(), "Location_Y", 180.0)?,
                scale: number(self.scale.as_deref(), "Scale")?,
                label: nonempty(self.label.clone()),
            },
            "link" => WecomInbound::Link {
                title: nonempty(self.title.clone()),
                url: nonempty(self.url.clone()).ok_or(InboundError::Missing("Url"))?,
            },
            "event" => self.event()?,
            other => WecomInbound::Unsupported {
                msg_type: other.to_owned(),
            },
        })
    }

    fn event(self) -> Result<WecomInbound, InboundError> {
        let event = nonempty(self.event).ok_or(InboundError::Missing("Event"))?;
        let key = nonempty(self.event_key);
        // Event names are documented lowercase, except `LOCATION`.
        Ok(match event.to_ascii_lowercase().as_str() {
            "click" => WecomInbound::MenuClick {
                key: key.ok_or(InboundError::Missing("EventKey"))?,
            },
            "template_card_event" => WecomInbound::CardPress {
                task_id: nonempty(self.task_id).ok_or(InboundError::Missing("TaskId"))?,
                key: key.ok_or(InboundError::Missing("EventKey"))?,
                card_type: nonempty(self.card_type),
                response_code: nonempty(self.response_code),
                selected: self
                    .selected_items
                    .map(|s| {
                        s.items
                            .into_iter()
                            .map(|i| SelectedOption {
                                question_key: i.question_key.unwrap_or_default().trim().to_owned(),
                                option_ids: i
                                    .option_ids
                                    .map(|o| {
                                        o.ids.into_iter().map(|id| id.trim().to_owned()).collect()
                                    })
                                    .unwrap_or_default(),
                            })
                            .collect()
                    })
                    .unwrap_or_default(),
            },
            "enter_agent" => WecomInbound::EnterAgent,
            "subscribe" => WecomInbound::Subscribe,
            "unsubscribe" => WecomInbound::Unsubscribe,
            "location" => WecomInbound::ReportedLocation {
                latitude: coordinate(self.latitude.as_deref(), "Latitude", 90.0)?,
                longitude: coordinate(self.longitude.as_deref(), "Longitude", 180.0)?,
                precision: number(self.precision.as_deref(), "Precision")?,
            },
            _ => WecomInbound::OtherEvent { event, key },
        })
    }
}

/// Trimmed, and `None` when empty.
fn nonempty(value: Option<String>) -> Option<String> {
    value.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())
}

fn number<T: std::str::FromStr>(
    value: Option<&str>,
    field: &'static str,
) -> Result<Option<T>, InboundError> {
    match value.map(str::trim).filter(|v| !v.is_empty()) {
        None => Ok(None),
        Some(v) => v
            .parse()
            .map(Some)
            .map_err(|_| InboundError::Invalid(field)),
    }
}

/// A latitude (`limit` 90) or longitude (180): finite and in range.
fn coordinate(value: Option<&str>, field: &'static str, limit: f64) -> Result<f64, InboundError> {
    let v: f64 = number(value, field)?.ok_or(InboundError::Missing(field))?;
    if v.is_finite() && v.abs() <= limit {
        Ok(v)
    } else {
        Err(InboundError::Invalid(field))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// The documented formats (the example packets of "消息格式" and "事件格式").
    fn wrap(body: &str) -> String {
        format!(
            "<xml><ToUserName><![CDATA[toUser]]></ToUserName>\
             <FromUserName><![CDATA[zhangsan]]></FromUserName>\
             <CreateTime>1348831860</CreateTime>{body}<AgentID>1000002</AgentID></xml>"
        )
    }

    fn parse(body: &str) -> Inbound {
        Inbound::parse(&wrap(body)).unwrap()
    }

    #[test]
    fn envelope_with_and_without_cdata() {
        let e = Envelope::parse(
            "<xml><ToUserName><![CDATA[ww1436e0e65a779aee]]></ToUserName>\n\
             <Encrypt><![CDATA[Kl7k+/=]]></Encrypt>\n<AgentID><![CDATA[1000002]]></AgentID>\n</xml>",
        )
        .unwrap();
        assert_eq!(e.encrypt, "Kl7k+/=");
        assert_eq!(e.to_user_name.as_deref(), Some("ww1436e0e65a779aee"));
        assert_eq!(e.agent_id.as_deref(), Some("1000002"));
        let e = Envelope::parse("<xml><Encrypt>abc</Encrypt></xml>").unwrap();
        assert_eq!(e.encrypt, "abc");
        assert_eq!(
            Envelope::parse("<xml><ToUserName>x</ToUserName></xml>"),
            Err(InboundError::Missing("Encrypt"))
        );
        assert!(matches!(
            Envelope::parse("<xml><Encrypt>abc</xml>"),
            Err(InboundError::Xml(_))
        ));
        assert!(matches!(Envelope::parse(""), Err(InboundError::Xml(_))));
    }

    #[test]
    fn text_without_cdata_as_in_the_sdk_sample() {
        let m = Inbound::parse(
            "<xml><ToUserName>ww1436e0e65a779aee</ToUserName><FromUserName>ChenJiaShun</FromUserName>\
             <CreateTime>1476422779</CreateTime><MsgType>text</MsgType><Content>你好</Content>\
             <MsgId>1456453720</MsgId><AgentID>1000002</AgentID></xml>",
        )
        .unwrap();
        assert_eq!(
            m,
            Inbound {
                user_id: "ChenJiaShun".into(),
                corp_id: "ww1436e0e65a779aee".into(),
                agent_id: Some(1000002),
                create_time: 1476422779,
                msg_id: Some("1456453720".into()),
                message: WecomInbound::Text {
                    content: "你好".into()
                },
            }
        );
        assert_eq!(m.dedupe_key(), "wecom:m:1456453720");
    }

    #[test]
    fn text_keeps_its_spacing_and_escapes() {
        let m = parse(
            "<MsgType><![CDATA[text]]></MsgType><Content><![CDATA[ 1. 张三 <家> & 李四\n2. 王五 ]]></Content><MsgId>1</MsgId>",
        );
        assert_eq!(
            m.message,
            WecomInbound::Text {
                content: " 1. 张三 <家> & 李四\n2. 王五 ".into()
            }
        );
        let m =
            parse("<MsgType>text</MsgType><Content>a &lt;b&gt; &amp;</Content><MsgId>2</MsgId>");
        assert_eq!(
            m.message,
            WecomInbound::Text {
                content: "a <b> &".into()
            }
        );
    }

    #[test]
    fn media_messages() {
        let m = parse(
            "<MsgType><![CDATA[image]]></MsgType><PicUrl><![CDATA[http://x/p.jpg]]></PicUrl>\
             <MediaId><![CDATA[media_id]]></MediaId><MsgId>1234567890123456</MsgId>",
        );
        assert_eq!(
            m.message,
            WecomInbound::Image {
                media_id: "media_id".into(),
                pic_url: Some("http://x/p.jpg".into())
            }
        );
        let m = parse(
            "<MsgType><![CDATA[voice]]></MsgType><MediaId><![CDATA[v1]]></MediaId>\
             <Format><![CDATA[amr]]></Format><MsgId>1</MsgId>",
        );
        assert_eq!(
            m.message,
            WecomInbound::Voice {
                media_id: "v1".into(),
                format: Some("amr".into())
            }
        );
        let m = parse(
            "<MsgType><![CDATA[video]]></MsgType><MediaId><![CDATA[v2]]></MediaId>\
             <ThumbMediaId><![CDATA[t2]]></ThumbMediaId><MsgId>1</MsgId>",
        );
        assert_eq!(
            m.message,
            WecomInbound::Video {
                media_id: "v2".into(),
                thumb_media_id: Some("t2".into())
            }
        );
        let m = parse(
            "<MsgType><![CDATA[file]]></MsgType><MediaId><![CDATA[f1]]></MediaId>\
             <FileName><![CDATA[台账.xlsx]]></FileName><FileSize>2048</FileSize><MsgId>1</MsgId>",
        );
        assert_eq!(
            m.message,
            WecomInbound::File {
                media_id: "f1".into(),
                file_name: Some("台账.xlsx".into()),
                size: Some(2048)
            }
        );
        // An image without its media id is not readable: handed on as unsupported.
        let m = parse("<MsgType><![CDATA[image]]></MsgType><MsgId>1</MsgId>");
        assert_eq!(
            m.message,
            WecomInbound::Unsupported {
                msg_type: "image".into()
            }
        );
    }

    #[test]
    fn location_x_is_the_latitude() {
        let m = parse(
            "<MsgType><![CDATA[location]]></MsgType><Location_X>30.587</Location_X>\
             <Location_Y>103.522</Location_Y><Scale>15</Scale>\
             <Label><![CDATA[四川省成都市大邑县晋原街道]]></Label><MsgId>1</MsgId>\
             <AppType><![CDATA[wxwork]]></AppType>",
        );
        assert_eq!(
            m.message,
            WecomInbound::Location {
                latitude: 30.587,
                longitude: 103.522,
                scale: Some(15),
                label: Some("四川省成都市大邑县晋原街道".into())
            }
        );
        let m = parse(
            "<MsgType>location</MsgType><Location_X>95</Location_X><Location_Y>103</Location_Y><MsgId>1</MsgId>",
        );
        assert!(matches!(m.message, WecomInbound::Unsupported { .. }));
        let m = parse(
            "<MsgType>location</MsgType><Location_X>NaN</Location_X><Location_Y>103</Location_Y><MsgId>1</MsgId>",
        );
        assert!(matches!(m.message, WecomInbound::Unsupported { .. }));
    }

    #[test]
    fn menu_click_and_other_events() {
        let m = parse(
            "<MsgType><![CDATA[event]]></MsgType><Event><![CDATA[click]]></Event>\
             <EventKey><![CDATA[visit]]></EventKey>",
        );
        assert_eq!(
            m.message,
            WecomInbound::MenuClick {
                key: "visit".into()
            }
        );
        assert_eq!(m.msg_id, None);
        assert_eq!(m.dedupe_key(), "wecom:e:zhangsan:1348831860:click:visit");
        let m = parse(
            "<MsgType><![CDATA[event]]></MsgType><Event><![CDATA[enter_agent]]></Event>\
             <EventKey><![CDATA[]]></EventKey>",
        );
        assert_eq!(m.message, WecomInbound::EnterAgent);
        let m = parse("<MsgType><![CDATA[event]]></MsgType><Event><![CDATA[subscribe]]></Event>");
        assert_eq!(m.message, WecomInbound::Subscribe);
        let m = parse("<MsgType><![CDATA[event]]></MsgType><Event><![CDATA[unsubscribe]]></Event>");
        assert_eq!(m.message, WecomInbound::Unsubscribe);
        let m = parse(
            "<MsgType><![CDATA[event]]></MsgType><Event><![CDATA[LOCATION]]></Event>\
             <Latitude>23.104</Latitude><Longitude>113.320</Longitude><Precision>65.000</Precision>",
        );
        assert_eq!(
            m.message,
            WecomInbound::ReportedLocation {
                latitude: 23.104,
                longitude: 113.320,
                precision: Some(65.0)
            }
        );
        let m = parse(
            "<MsgType><![CDATA[event]]></MsgType><Event><![CDATA[view]]></Event>\
             <EventKey><![CDATA[https://x]]></EventKey>",
        );
        assert_eq!(
            m.message,
            WecomInbound::OtherEvent {
                event: "view".into(),
                key: Some("https://x".into())
            }
        );
        // Two different events in the same second do not share a key.
        let a = parse("<MsgType>event</MsgType><Event>click</Event><EventKey>visit</EventKey>");
        let b = parse("<MsgType>event</MsgType><Event>click</Event><EventKey>my</EventKey>");
        assert_ne!(a.dedupe_key(), b.dedupe_key());
    }

    #[test]
    fn template_card_press() {
        let m = parse(
            "<MsgType><![CDATA[event]]></MsgType><Event><![CDATA[template_card_event]]></Event>\
             <EventKey><![CDATA[task:accept:42]]></EventKey><TaskId><![CDATA[t42-1]]></TaskId>\
             <CardType><![CDATA[button_interaction]]></CardType>\
             <ResponseCode><![CDATA[rc-abc]]></ResponseCode>",
        );
        assert_eq!(
            m.message,
            WecomInbound::CardPress {
                task_id: "t42-1".into(),
                key: "task:accept:42".into(),
                card_type: Some("button_interaction".into()),
                response_code: Some("rc-abc".into()),
                selected: vec![],
            }
        );
        assert_eq!(
            m.dedupe_key(),
            "wecom:e:zhangsan:1348831860:card:t42-1:task:accept:42"
        );
        let m = parse(
            "<MsgType><![CDATA[event]]></MsgType><Event><![CDATA[template_card_event]]></Event>\
             <EventKey><![CDATA[submit]]></EventKey><TaskId><![CDATA[vote1]]></TaskId>\
             <CardType><![CDATA[vote_interaction]]></CardType>\
             <SelectedItems><SelectedItem><QuestionKey><![CDATA[q1]]></QuestionKey>\
             <OptionIds><OptionId><![CDATA[o1]]></OptionId><OptionId><![CDATA[o2]]></OptionId></OptionIds>\
             </SelectedItem><SelectedItem><QuestionKey><![CDATA[q2]]></QuestionKey>\
             <OptionIds><OptionId><![CDATA[o3]]></OptionId></OptionIds></SelectedItem></SelectedItems>",
        );
        let WecomInbound::CardPress { selected, .. } = m.message else {
            panic!("not a card press")
        };
        assert_eq!(
            selected,
            vec![
                SelectedOption {
                    question_key: "q1".into(),
                    option_ids: vec!["o1".into(), "o2".into()]
                },
                SelectedOption {
                    question_key: "q2".into(),
                    option_ids: vec!["o3".into()]
                },
            ]
        );
    }

    #[test]
    fn unknown_types_and_broken_headers() {
        let m = parse("<MsgType><![CDATA[miniprogram]]></MsgType><MsgId>9</MsgId>");
        assert_eq!(
            m.message,
            WecomInbound::Unsupported {
                msg_type: "miniprogram".into()
            }
        );
        assert_eq!(
            Inbound::parse("<xml><MsgType>text</MsgType></xml>"),
            Err(InboundError::Missing("FromUserName"))
        );
        assert_eq!(
            Inbound::parse(
                "<xml><ToUserName>c</ToUserName><FromUserName>u</FromUserName>\
                 <CreateTime>soon</CreateTime><MsgType>text</MsgType></xml>"
            ),
            Err(InboundError::Invalid("CreateTime"))
        );
        assert!(matches!(
            Inbound::parse("<xml><FromUserName>u</xml>"),
            Err(InboundError::Xml(_))
        ));
        // A DTD with an entity is not expanded into the text.
        let doctype = "<!DOCTYPE xml [<!ENTITY x SYSTEM \"file:///etc/passwd\">]>\
             <xml><ToUserName>c</ToUserName><FromUserName>u</FromUserName><CreateTime>1</CreateTime>\
             <MsgType>text</MsgType><Content>&x;</Content></xml>";
        if let Ok(m) = Inbound::parse(doctype) {
            assert!(
                !matches!(&m.message, WecomInbound::Text { content } if content.contains("root")),
                "{m:?}"
            );
        }
    }
}
