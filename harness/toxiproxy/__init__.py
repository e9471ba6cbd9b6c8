"""The Toxiproxy wing: the binary, the server, its REST client and one proxy per link."""
