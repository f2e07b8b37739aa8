import { equal } from "node:assert/strict";
import { filesystemOf } from "./private_runtime.ts";

const MOUNTINFO = [
  "22 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw",
  "23 22 0:21 / /tmp rw,nosuid,nodev shared:2 - tmpfs tmpfs rw,size=1g",
  "24 22 0:22 / /var/tmp/a\\040b rw shared:3 - xfs /dev/vdb rw",
  "25 22 0:23 / /tmpdata rw shared:4 - ext4 /dev/vdc rw",
  "garbage",
  "",
].join("\n");

Deno.test("filesystemOf() takes the longest mount point that holds the path", () => {
  equal(filesystemOf(MOUNTINFO, "/tmp/msm-runtime-1/deno"), "tmpfs");
  equal(filesystemOf(MOUNTINFO, "/tmp"), "tmpfs");
  equal(filesystemOf(MOUNTINFO, "/tmpdata/x"), "ext4", "a prefix of the name is not a parent directory");
  equal(filesystemOf(MOUNTINFO, "/root/.cache"), "ext4");
  equal(filesystemOf(MOUNTINFO, "/var/tmp/a b/c"), "xfs", "escaped spaces in mount points");
  equal(filesystemOf("", "/x"), null);
});
