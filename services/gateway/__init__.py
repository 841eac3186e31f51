"""Gateway: the front door product backends call (`Assistant.Ask`, `Assistant.AskStream`)."""
