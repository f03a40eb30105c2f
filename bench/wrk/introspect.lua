-- POST /oauth/introspect (form body, HTTP Basic); each data line is
-- `<Basic credentials, base64><TAB><access token>`.
package.path = "bench/wrk/?.lua;" .. package.path
local common = require("common")

setup = common.setup
done = common.done

function init(args)
   local requests = {}
   for _, line in ipairs(common.read_lines(args[1], id, tonumber(args[2]))) do
      local basic, token = line:match("^([^\t]+)\t(.+)$")
      local headers = {
         ["Authorization"] = "Basic " .. basic,
         ["Content-Type"] = "application/x-www-form-urlencoded",
         ["Accept"] = "application/json",
      }
      local body = "token=" .. token .. "&token_type_hint=access_token"
      requests[#requests + 1] = wrk.format("POST", "/oauth/introspect", headers, body)
   end
   request = common.cycle(requests)
end
