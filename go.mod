module github.com/imigee/imigee

go 1.26.6

require google.golang.org/protobuf v1.36.12
