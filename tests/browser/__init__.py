"""
End-to-end tests of the web client in a real browser: Debian's Chromium
driven by Playwright against the installed C{twistd chat}, with C{nc} and
C{chat-client} users in the same chat. Skipped when Chromium is missing,
unless C{TXCHAT_BROWSER_REQUIRED} is set (CI), which makes that a failure.
"""
