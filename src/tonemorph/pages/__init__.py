"""What the two HTML pages (the tone report, `tonemorph.report`, and the master's,
`tonemorph.master.report_html`) share: measures of recordings, embedded audio, plots. Free of
torch, so a master's page does not load it."""
