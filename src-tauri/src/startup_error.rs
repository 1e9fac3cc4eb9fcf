//! A start that failed before any window existed (a database from a newer Waymark, a broken
//! database choice): the app was likely started from a menu or at login, with no terminal, so
//! the error is shown in a dialog of its own as well as logged.

/// Shows `message` in a modal dialog and waits for it to be closed. Without a display (or if
/// GTK cannot start) it does nothing: the caller logs and prints the error anyway.
#[cfg(target_os = "linux")]
pub fn show(message: &str) {
    use gtk::prelude::*;
    if gtk::init().is_err() {
        return;
    }
    let dialog = gtk::MessageDialog::new(
        None::<&gtk::Window>,
        gtk::DialogFlags::MODAL,
        gtk::MessageType::Error,
        gtk::ButtonsType::Close,
        "Waymark cannot start",
    );
    dialog.set_title("Waymark");
    dialog.set_secondary_text(Some(message));
    dialog.run();
    dialog.close();
}

/// Elsewhere the error is logged and printed only (no dialog yet).
#[cfg(not(target_os = "linux"))]
pub fn show(_message: &str) {}
