//! A server-sent-events parser fed with body chunks as they arrive. Chunks split anywhere,
//! even inside a UTF-8 character, so it buffers bytes and decodes whole lines only.

use crate::provider::ProviderError;

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SseEvent {
    /// The `event:` field; the providers dispatch on the data's own `type`, so it is advisory.
    pub event: Option<String>,
    /// The `data:` lines joined with `\n`.
    pub data: String,
}

#[derive(Debug, Default)]
pub struct SseParser {
    pending: Vec<u8>,
    event: Option<String>,
    data: Vec<String>,
}

impl SseParser {
    /// The events completed by `chunk`, in order.
    pub fn push(&mut self, chunk: &[u8]) -> Result<Vec<SseEvent>, ProviderError> {
        self.pending.extend_from_slice(chunk);
        let mut events = Vec::new();
        while let Some(end) = self.pending.iter().position(|&b| b == b'\n') {
            let mut line: Vec<u8> = self.pending.drain(..=end).collect();
            line.pop();
            if line.last() == Some(&b'\r') {
                line.pop();
            }
            let line = String::from_utf8(line)
                .map_err(|_| ProviderError::invalid("the event stream is not UTF-8"))?;
            if let Some(event) = self.line(&line) {
                events.push(event);
            }
        }
        Ok(events)
    }

    /// The last event when the body ends without the blank line that should close it.
    pub fn finish(&mut self) -> Result<Vec<SseEvent>, ProviderError> {
        let mut events = if self.pending.is_empty() {
            Vec::new()
        } else {
            self.push(b"\n")?
        };
        events.extend(self.dispatch());
        Ok(events)
    }

    fn line(&mut self, line: &str) -> Option<SseEvent> {
        if line.is_empty() {
            return self.dispatch();
        }
        if line.starts_with(':') {
            return None; // a comment: keep-alive pings
        }
        let (field, value) = line.split_once(':').unwrap_or((line, ""));
        let value = value.strip_prefix(' ').unwrap_or(value);
        match field {
            "data" => self.data.push(value.to_string()),
            "event" => self.event = Some(value.to_string()),
            _ => {} // id, retry: nothing a model answer needs
        }
        None
    }

    fn dispatch(&mut self) -> Option<SseEvent> {
        let event = self.event.take();
        if self.data.is_empty() {
            return None;
        }
        Some(SseEvent {
            event,
            data: std::mem::take(&mut self.data).join("\n"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_across_arbitrary_chunk_boundaries() {
        let body =
            "event: a\ndata: {\"x\":\"é\"}\n\n: ping\n\ndata: one\r\ndata: two\r\n\r\ndata: [DONE]";
        let bytes = body.as_bytes();
        for split in 1..bytes.len() {
            let mut p = SseParser::default();
            let mut events = p.push(&bytes[..split]).unwrap();
            events.extend(p.push(&bytes[split..]).unwrap());
            events.extend(p.finish().unwrap());
            let datas: Vec<_> = events.iter().map(|e| e.data.as_str()).collect();
            assert_eq!(
                datas,
                ["{\"x\":\"é\"}", "one\ntwo", "[DONE]"],
                "split at {split}"
            );
            assert_eq!(events[0].event.as_deref(), Some("a"));
            assert_eq!(events[1].event, None);
        }
    }
}
