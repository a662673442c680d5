module lab.local/kindnetd

go 1.22
