-- tau.nn: the Module API, each layer's shapes and gradients, initialisers.
local T = ...
local nn, F = tau.nn, tau.F
local gradcheck = tau.gradcheck

local function sizes(t) return table.concat(t:size(), "x") end

local function names_of(list)
  local out = {}
  for i, e in ipairs(list) do out[i] = e[1] end
  return table.concat(out, " ")
end

-- A small network with a parameter of its own, children, a nested Sequential and buffers.
local Net = nn.Module:extend("Net")
function Net:init(c)
  self.scale = tau.ones(1):requires_grad()
  self.conv1 = nn.Conv2d(c or 1, 4, 3, {padding = 1})
  self.bn = nn.BatchNorm2d(4)
  self.head = nn.Sequential{nn.Flatten(), nn.Linear(4 * 4 * 4, 8), nn.ReLU(), nn.Dropout(0.5), nn.Linear(8, 3)}
end
function Net:forward(x)
  local h = F.max_pool2d(F.relu(self.bn(self.conv1(x))), 2)
  return self.head(h) * self.scale
end

---------------------------------------------------------------------------- Module API

T.test("parameters come in registration order, own parameters first", function()
  tau.manual_seed(1)
  local m = Net()
  T.eq(names_of(m:named_parameters()),
       "scale conv1.weight conv1.bias bn.weight bn.bias head.2.weight head.2.bias head.5.weight head.5.bias")
  local ps = m:parameters()
  T.eq(#ps, 9)
  T.eq(sizes(ps[2]), "4x1x3x3")
  T.eq(sizes(ps[6]), "8x64")
  for _, p in ipairs(ps) do T.ok(p.needs_grad and p.is_leaf, "parameters are leaves requiring grad") end
  T.eq(m:num_parameters(), 1 + 36 + 4 + 4 + 4 + 512 + 8 + 24 + 3)
  T.eq(names_of(m:named_buffers()), "bn.running_mean bn.running_var")
  T.eq(#m:buffers(), 2)
end)

T.test("state_dict holds parameters and buffers under dotted names", function()
  local m = Net()
  local sd = m:state_dict()
  local keys = {}
  for k in pairs(sd) do keys[#keys + 1] = k end
  table.sort(keys)
  T.eq(table.concat(keys, " "), "bn.bias bn.running_mean bn.running_var bn.weight conv1.bias conv1.weight " ..
       "head.2.bias head.2.weight head.5.bias head.5.weight scale")
  T.eq(table.concat(m:state_keys(), " "), "scale conv1.weight conv1.bias bn.weight bn.bias head.2.weight " ..
       "head.2.bias head.5.weight head.5.bias bn.running_mean bn.running_var")
  T.ok(not sd["conv1.weight"].needs_grad, "state_dict tensors are detached")
end)

T.test("state_dict round trip into a fresh model gives identical outputs", function()
  tau.manual_seed(2)
  local a = Net()
  -- a few training-mode passes so the running statistics differ from their initial values
  for _ = 1, 3 do a(tau.randn(4, 1, 8, 8)) end
  a:evaluate()
  local x = tau.randn(5, 1, 8, 8)
  local ya = a(x)
  tau.manual_seed(99)
  local b = Net()
  b:evaluate()
  T.ok(not b(x):allclose(ya), "a fresh model differs before loading")
  local r = b:load_state_dict(a:state_dict())
  T.eq(#r.missing_keys + #r.unexpected_keys, 0)
  T.ok(b(x):equal(ya), "identical outputs after loading")
  T.ok(b.bn.running_mean:equal(a.bn.running_mean))
end)

T.test("load_state_dict copies values, not references", function()
  local a, b = nn.Linear(3, 2), nn.Linear(3, 2)
  b:load_state_dict(a:state_dict())
  tau.no_grad(function() a.weight:fill_(7) end)
  T.ok(b.weight:max():item() < 7)
end)

T.test("load_state_dict names missing keys", function()
  local m = Net()
  local sd = m:state_dict()
  sd["head.5.bias"] = nil
  sd["bn.running_var"] = nil
  T.raises(function() m:load_state_dict(sd) end, "load_state_dict", "missing keys",
           '"head.5.bias"', '"bn.running_var"')
end)

T.test("load_state_dict names unexpected keys", function()
  local m = Net()
  local sd = m:state_dict()
  sd["head.9.weight"] = tau.zeros(2)
  T.raises(function() m:load_state_dict(sd) end, "unexpected keys", '"head.9.weight"')
end)

T.test("load_state_dict names the key and both shapes on a mismatch", function()
  local m = Net()
  local sd = m:state_dict()
  sd["conv1.weight"] = tau.zeros(5, 1, 3, 3)
  local err = T.raises(function() m:load_state_dict(sd) end, "size mismatch for conv1.weight", "[5, 1, 3, 3]",
                       "[4, 1, 3, 3]")
  -- raised even when not strict, and before anything was copied
  T.raises(function() m:load_state_dict(sd, {strict = false}) end, "size mismatch for conv1.weight")
  T.ok(not err:find("missing"))
end)

T.test("load_state_dict non-strict reports missing and unexpected keys", function()
  local m = Net()
  local sd = m:state_dict()
  local w = sd["head.2.weight"]
  sd["head.2.weight"] = nil
  sd.extra = tau.zeros(1)
  local r = m:load_state_dict(sd, {strict = false})
  T.eq(table.concat(r.missing_keys, ","), "head.2.weight")
  T.eq(table.concat(r.unexpected_keys, ","), "extra")
  T.ok(m.head[2].weight:equal(w))
end)

T.test("state_dict survives tau.save and tau.load", function()
  if not tau.save then T.skip("tau.save is not available") end
  tau.manual_seed(3)
  local a = Net()
  a:evaluate()
  local path = os.tmpname()
  tau.save(path, a:state_dict())
  local b = Net()
  b:evaluate()
  b:load_state_dict(tau.load(path))
  os.remove(path)
  local x = tau.randn(2, 1, 8, 8)
  T.ok(b(x):equal(a(x)))
end)

T.test("train and evaluate switch the training flag recursively", function()
  local m = Net()
  T.eq(m.training, true)
  T.eq(m.head[4].training, true)
  T.eq(m:evaluate(), m)
  T.eq(m.training, false)
  T.eq(m.bn.training, false)
  T.eq(m.head[4].training, false)
  m:train()
  T.eq(m.head[4].training, true)
  m:eval()
  T.eq(m.head[4].training, false)
  m:train(false)
  T.eq(m.bn.training, false)
end)

T.test("BatchNorm uses batch statistics in training and running ones in evaluation", function()
  tau.manual_seed(4)
  local bn = nn.BatchNorm2d(3)
  local x = tau.randn(8, 3, 4, 4) * 2 + 5
  local y = bn(x)
  -- normalised per channel by the batch
  T.near(y:mean():item(), 0, 1e-4)
  T.near(y:var({unbiased = false}):item(), 1, 1e-3)
  -- running mean moved 10% of the way to the batch mean (about 5)
  local rm = bn.running_mean:mean():item()
  T.ok(rm > 0.3 and rm < 0.7, "running mean " .. rm)
  bn:evaluate()
  local before = bn.running_mean:clone()
  local ye = bn(x)
  T.ok(bn.running_mean:equal(before), "evaluation leaves the running statistics alone")
  -- (x - rm) / sqrt(rv + eps) with the running statistics: far from normalised
  T.ok(ye:mean():item() > 2, "evaluation output uses running statistics")
  local expect = (x - bn.running_mean:view(1, 3, 1, 1)) / (bn.running_var:view(1, 3, 1, 1) + 1e-5):sqrt()
  T.ok(ye:allclose(expect, {atol = 1e-4, rtol = 1e-4}))
end)

T.test("Dropout zeroes and rescales in training and is the identity in evaluation", function()
  tau.manual_seed(5)
  local d = nn.Dropout(0.5)
  local x = tau.ones(1000)
  local y = d(x)
  local zeros = y:eq(0):sum():item()
  T.ok(zeros > 400 and zeros < 600, "about half dropped: " .. zeros)
  T.near(y:max():item(), 2, 1e-6)
  d:evaluate()
  T.ok(d(x):equal(x))
  T.raises(function() nn.Dropout(1.5) end, "tau.nn.Dropout", "between 0 and 1")
end)

T.test("zero_grad clears every parameter's gradient", function()
  local m = Net()
  m(tau.randn(2, 1, 8, 8)):sum():backward()
  T.ok(m.conv1.weight.grad ~= nil)
  m:zero_grad()
  for _, p in ipairs(m:parameters()) do T.eq(p.grad, nil) end
end)

T.test("__tostring lists the structure", function()
  local s = tostring(Net())
  T.ok(s:find("^Net%(\n"), s)
  T.ok(s:find("  (conv1): Conv2d(1, 4, kernel_size=3, stride=1, padding=1)", 1, true), s)
  T.ok(s:find("  (bn): BatchNorm2d(4, eps=1e-05, momentum=0.1, affine=true)", 1, true), s)
  T.ok(s:find("  (head): Sequential(\n    (1): Flatten()\n    (2): Linear(in_features=64, out_features=8, bias=true)", 1, true), s)
  T.ok(s:find("    (4): Dropout(p=0.5)", 1, true), s)
  T.eq(tostring(nn.ReLU()), "ReLU()")
  T.eq(tostring(nn.MaxPool2d(2)), "MaxPool2d(kernel_size=2, stride=2, padding=0)")
end)

T.test("Sequential is indexable, has a length and grows with add", function()
  local s = nn.Sequential{nn.Linear(2, 3), nn.ReLU()}
  T.eq(#s, 2)
  T.eq(s[2].__name, "ReLU")
  T.eq(s[-1].__name, "ReLU")
  T.eq(s[3], nil)
  T.eq(s:add(nn.Linear(3, 1)), s)
  T.eq(#s, 3)
  T.eq(sizes(s(tau.randn(4, 2))), "4x1")
  T.eq(names_of(s:named_parameters()), "1.weight 1.bias 3.weight 3.bias")
  T.eq(#nn.Sequential(), 0)
  T.eq(#nn.Sequential(nn.ReLU(), nn.Tanh()), 2)
  T.raises(function() nn.Sequential{nn.ReLU(), 5} end, "tau.nn.Sequential", "element 2 is not a module")
end)

T.test("subclasses register parameters, children and buffers by assignment", function()
  local Sub = nn.Module:extend("Sub", {
    init = function(self)
      self.w = tau.zeros(2):requires_grad()
      self.plain = tau.zeros(3)            -- not a parameter: it does not require grad
      self.note = "kept as a field"
      self:register_buffer("count", tau.zeros(1))
      self:register_buffer("scratch", tau.zeros(4), false)
      self.child = nn.Linear(2, 2)
    end,
    forward = function(self, x) return self.child(x) + self.w end})
  local m = Sub()
  T.eq(names_of(m:named_parameters()), "w child.weight child.bias")
  T.eq(names_of(m:named_buffers()), "count scratch")
  T.eq(m.note, "kept as a field")
  local sd = m:state_dict()
  T.ok(sd.count ~= nil and sd.scratch == nil and sd.plain == nil, "non-persistent buffers are not saved")
  -- replacing a parameter keeps its place; removing it drops it
  m.w = tau.ones(2):requires_grad()
  T.eq(m.w:sum():item(), 2)
  m.child = nil
  T.eq(names_of(m:named_parameters()), "w")
  m.child = nn.Linear(2, 2, {bias = false})
  T.eq(names_of(m:named_parameters()), "w child.weight")
  -- inheritance from a subclass
  local Sub2 = Sub:extend("Sub2")
  function Sub2:forward(x) return Sub.forward(self, x) * 2 end
  local m2 = Sub2()
  T.eq(m2.__name, "Sub2")
  T.eq(sizes(m2(tau.randn(3, 2))), "3x2")
end)

T.test("a module shared twice is counted once", function()
  local lin = nn.Linear(3, 3)
  local s = nn.Sequential{lin, nn.ReLU(), lin}
  T.eq(#s:parameters(), 2)
  T.eq(s:num_parameters(), 12)
end)

T.test("calling a module without forward raises", function()
  local Empty = nn.Module:extend("Empty")
  T.raises(function() Empty()(tau.zeros(1)) end, "Empty: forward is not implemented")
  T.raises(function() nn.Module:extend() end, "needs a name")
end)

T.test("modules, children and apply visit in order", function()
  local m = Net()
  T.eq(#m:children(), 3)
  local seen = {}
  for _, e in ipairs(m:named_modules()) do seen[#seen + 1] = e[1] == "" and "." or e[1] end
  T.eq(table.concat(seen, " "), ". conv1 bn head head.1 head.2 head.3 head.4 head.5")
  local count = 0
  m:apply(function() count = count + 1 end)
  T.eq(count, 9)
end)

---------------------------------------------------------------------------- layers

T.test("Linear: shapes, arguments and gradients", function()
  tau.manual_seed(6)
  local lin = nn.Linear(3, 2)
  T.eq(sizes(lin.weight), "2x3")
  T.eq(sizes(lin(tau.randn(4, 3))), "4x2")
  T.eq(sizes(lin(tau.randn(5, 4, 3))), "5x4x2")
  T.eq(nn.Linear(3, 2, {bias = false}).bias, nil)
  T.raises(function() nn.Linear(0, 2) end, "tau.nn.Linear", "in_features must be a positive integer")
  local x = tau.randn(2, 3):requires_grad()
  T.ok(gradcheck(function(v) return lin(v) end, {x, lin.weight, lin.bias}))
  -- (..., in) inputs go through one (rows, in) product: the same values as row by row, and
  -- gradients through it, also for a non-contiguous input
  local x3 = tau.randn(2, 4, 3):requires_grad()
  local y3 = lin(x3)
  for i = 1, 2 do
    for j = 1, 4 do T.close(y3[i][j], lin(x3[i][j]:view(1, 3))[1], 1e-6) end
  end
  T.ok(gradcheck(function(v) return lin(v) end, {x3, lin.weight, lin.bias}))
  local xt = tau.randn(4, 2, 3):transpose(1, 2):requires_grad()
  T.ok(gradcheck(function(v) return lin(v) end, {xt, lin.weight}))
  -- no input features: the output is the bias, for 2-D and 3-D inputs alike
  T.close(tau.F.linear(tau.zeros(2, 3, 0), tau.zeros(4, 0), tau.ones(4)), tau.ones(2, 3, 4))
  T.close(tau.F.linear(tau.zeros(3, 0), tau.zeros(4, 0), tau.ones(4)), tau.ones(3, 4))
end)

T.test("Conv2d: shapes with stride, padding, dilation, groups", function()
  tau.manual_seed(7)
  local x = tau.randn(2, 4, 9, 9)
  T.eq(sizes(nn.Conv2d(4, 6, 3)(x)), "2x6x7x7")
  T.eq(sizes(nn.Conv2d(4, 6, 3, {padding = 1})(x)), "2x6x9x9")
  T.eq(sizes(nn.Conv2d(4, 6, 3, {stride = 2, padding = 1})(x)), "2x6x5x5")
  T.eq(sizes(nn.Conv2d(4, 6, {3, 1}, {padding = {1, 0}})(x)), "2x6x9x9")
  T.eq(sizes(nn.Conv2d(4, 6, 3, {dilation = 2})(x)), "2x6x5x5")
  T.eq(sizes(nn.Conv2d(4, 6, 3, {dilation = 2, padding = "same"})(x)), "2x6x9x9")
  local g = nn.Conv2d(4, 6, 3, {groups = 2, bias = false})
  T.eq(sizes(g.weight), "6x2x3x3")
  T.eq(g.bias, nil)
  T.eq(sizes(g(x)), "2x6x7x7")
  T.raises(function() nn.Conv2d(4, 6, 3, {groups = 3}) end, "divisible by groups")
end)

T.test("Conv2d: gradients", function()
  tau.manual_seed(8)
  local conv = nn.Conv2d(2, 3, 3, {stride = 2, padding = 1})
  local x = tau.randn(2, 2, 5, 5):requires_grad()
  T.ok(gradcheck(function(v) return conv(v) end, {x, conv.weight, conv.bias}))
  local g = nn.Conv2d(4, 2, 2, {groups = 2})
  local xg = tau.randn(1, 4, 3, 3):requires_grad()
  T.ok(gradcheck(function(v) return g(v) end, {xg, g.weight, g.bias}))
end)

T.test("BatchNorm2d (training): gradients through input, weight and bias", function()
  tau.manual_seed(9)
  local bn = nn.BatchNorm2d(2)
  tau.no_grad(function() bn.weight:uniform_(0.5, 1.5); bn.bias:uniform_(-1, 1) end)
  local x = tau.randn(3, 2, 2, 2):requires_grad()
  T.ok(gradcheck(function(v) return bn(v) end, {x, bn.weight, bn.bias}, {atol = 2e-2, rtol = 2e-2}))
  bn:evaluate()
  T.ok(gradcheck(function(v) return bn(v) end, {x, bn.weight, bn.bias}))
end)

T.test("BatchNorm1d on (N, C) and (N, C, L); checks its input", function()
  local bn = nn.BatchNorm1d(3)
  local y = bn(tau.randn(6, 3) * 3 + 1)
  T.eq(sizes(y), "6x3")
  T.near(y:mean():item(), 0, 1e-4)
  T.eq(sizes(bn(tau.randn(4, 3, 5))), "4x3x5")
  T.raises(function() bn(tau.randn(4, 3, 2, 2)) end, "BatchNorm1d", "2 or 3-dimensional")
  T.raises(function() nn.BatchNorm2d(3)(tau.randn(4, 5, 2, 2)) end, "BatchNorm2d", "expected 3 channels")
  local no_stats = nn.BatchNorm2d(2, {track_running_stats = false, affine = false})
  T.eq(#no_stats:parameters() + #no_stats:buffers(), 0)
  no_stats:evaluate()
  T.near(no_stats(tau.randn(4, 2, 3, 3) + 4):mean():item(), 0, 1e-4)
end)

T.test("LayerNorm: shapes and gradients", function()
  tau.manual_seed(10)
  local ln = nn.LayerNorm(4)
  local y = ln(tau.randn(2, 3, 4) * 5 + 2)
  T.eq(sizes(y), "2x3x4")
  T.near(y:mean():item(), 0, 1e-4)
  tau.no_grad(function() ln.weight:uniform_(0.5, 1.5); ln.bias:uniform_(-1, 1) end)
  local x = tau.randn(2, 4):requires_grad()
  T.ok(gradcheck(function(v) return ln(v) end, {x, ln.weight, ln.bias}))
  local ln2 = nn.LayerNorm({3, 4})
  T.eq(sizes(ln2.weight), "3x4")
  local y2 = ln2(tau.randn(2, 3, 4))
  T.near(y2[1]:mean():item(), 0, 1e-4)
  T.raises(function() ln(tau.randn(2, 5)) end, "LayerNorm", "[2, 5]", "[4]")
end)

T.test("MultiheadAttention: shapes, self and cross attention", function()
  tau.manual_seed(11)
  local mha = nn.MultiheadAttention(8, 2)
  T.eq(names_of(mha:named_parameters()), "in_proj_weight in_proj_bias out_proj.weight out_proj.bias")
  T.eq(sizes(mha.in_proj_weight), "24x8")
  local x = tau.randn(3, 5, 8)
  T.eq(sizes(mha(x)), "3x5x8")
  local kv = tau.randn(3, 7, 8)
  T.eq(sizes(mha(x, kv, kv)), "3x5x8")
  -- the fused self-attention path and the separate projections agree
  T.ok(mha(x):allclose(mha(x, x:clone(), x:clone()), {atol = 1e-5}))
  T.raises(function() nn.MultiheadAttention(8, 3) end, "divisible by num_heads")
  T.raises(function() mha(tau.randn(3, 5, 6)) end, "MultiheadAttention", "(B, T, 8)")
end)

T.test("MultiheadAttention: a causal mask hides the future", function()
  tau.manual_seed(12)
  local mha = nn.MultiheadAttention(4, 2)
  local t = 4
  local causal = tau.zeros(t, t)
  for i = 1, t do for j = i + 1, t do causal[i][j] = -math.huge end end
  local x = tau.randn(1, t, 4)
  local y = mha(x, causal)
  -- changing the last token leaves the earlier outputs unchanged
  local x2 = x:clone()
  x2[1][t] = tau.randn(4)
  local y2 = mha(x2, {mask = causal})
  T.ok(y:narrow(2, 1, t - 1):allclose(y2:narrow(2, 1, t - 1), {atol = 1e-6}))
  T.ok(not y:narrow(2, t, 1):allclose(y2:narrow(2, t, 1)))
  -- an int32 mask blocks where non-zero, like the additive one
  local blocked = tau.zeros(t, t, "int32")
  for i = 1, t do for j = i + 1, t do blocked[i][j] = 1 end end
  T.ok(mha(x, {mask = blocked}):allclose(y, {atol = 1e-6}))
  -- key padding: ignoring the last key equals attending to the first three only
  local kpm = tau.zeros(1, t):int()
  kpm[1][t] = 1
  local kv3 = x:narrow(2, 1, t - 1):contiguous()
  T.ok(mha(x, x, x, {key_padding_mask = kpm}):allclose(mha(x, kv3, kv3), {atol = 1e-5}))
end)

T.test("MultiheadAttention: gradients with and without a mask", function()
  tau.manual_seed(13)
  local mha = nn.MultiheadAttention(4, 2)
  local x = tau.randn(2, 3, 4):requires_grad()
  T.ok(gradcheck(function(v) return mha(v) end, {x, mha.in_proj_weight, mha.in_proj_bias, mha.out_proj.weight}))
  local mask = tau.tensor{{0, -1e9, -1e9}, {0, 0, -1e9}, {0, 0, 0}}
  T.ok(gradcheck(function(v) return mha(v, mask) end, {x, mha.in_proj_weight, mha.out_proj.bias}))
end)

T.test("activations, pooling, flatten and identity: shapes and values", function()
  local x = tau.tensor{{-1, 0, 2}}
  T.close(nn.ReLU()(x), {{0, 0, 2}})
  T.close(nn.Sigmoid()(x), {{1 / (1 + math.exp(1)), 0.5, 1 / (1 + math.exp(-2))}})
  T.close(nn.Tanh()(x), {{math.tanh(-1), 0, math.tanh(2)}})
  T.close(nn.GELU()(x), {{-0.158655, 0, 1.954500}}, 1e-5)
  T.close(nn.GELU({approximate = "tanh"})(x), {{-0.158808, 0, 1.954598}}, 1e-5)
  T.raises(function() nn.GELU({approximate = "fast"}) end, "approximate must be 'none' or 'tanh'")
  T.ok(nn.Identity()(x) == x)
  T.close(nn.Softmax({tau = 2})(x), F.softmax(x, {tau = 2}))
  local img = tau.randn(2, 3, 8, 8)
  T.eq(sizes(nn.MaxPool2d(2)(img)), "2x3x4x4")
  T.eq(sizes(nn.MaxPool2d(3, {stride = 2, padding = 1})(img)), "2x3x4x4")
  T.eq(sizes(nn.AvgPool2d(2)(img)), "2x3x4x4")
  T.eq(sizes(nn.AdaptiveAvgPool2d(1)(img)), "2x3x1x1")
  T.eq(sizes(nn.AdaptiveAvgPool2d({2, 3})(img)), "2x3x2x3")
  T.close(nn.AdaptiveAvgPool2d(1)(img):flatten(), img:mean(4):mean(3):flatten(), 1e-5)
  T.eq(sizes(nn.Flatten()(img)), "2x192")
  T.eq(sizes(nn.Flatten({start_dim = 3})(img)), "2x3x64")
end)

T.test("every layer passes gradients back to its input", function()
  tau.manual_seed(14)
  local layers = {nn.ReLU(), nn.GELU(), nn.Sigmoid(), nn.Tanh(), nn.MaxPool2d(2), nn.AvgPool2d(2),
                  nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Identity(), nn.Dropout(0.2)}
  for _, l in ipairs(layers) do
    local x = tau.randn(2, 2, 4, 4):requires_grad()
    l(x):sum():backward()
    T.ok(x.grad ~= nil, l.__name .. " gives a gradient")
  end
  local x = tau.randn(1, 1, 4, 4):requires_grad()
  T.ok(gradcheck(function(v) return nn.AvgPool2d(2)(v) end, {x}))
  T.ok(gradcheck(function(v) return nn.GELU()(v) end, {x}))
end)

---------------------------------------------------------------------------- init

T.test("default Linear and Conv2d initialisation: U(-1/sqrt(fan_in), 1/sqrt(fan_in))", function()
  tau.manual_seed(15)
  local lin = nn.Linear(400, 300)
  local bound = 1 / math.sqrt(400)
  local w = lin.weight
  T.ok(w:max():item() <= bound and w:min():item() >= -bound)
  T.ok(w:max():item() > 0.99 * bound and w:min():item() < -0.99 * bound, "fills the range")
  T.near(w:std():item(), bound / math.sqrt(3), 0.01)
  T.near(w:mean():item(), 0, 0.01)
  T.ok(lin.bias:abs():max():item() <= bound)
  local conv = nn.Conv2d(16, 32, 3)
  local cb = 1 / math.sqrt(16 * 9)
  T.ok(conv.weight:abs():max():item() <= cb and conv.weight:abs():max():item() > 0.98 * cb)
  T.ok(conv.bias:abs():max():item() <= cb)
end)

T.test("init helpers: kaiming, xavier, truncated normal, constants", function()
  tau.manual_seed(16)
  local init = nn.init
  local w = tau.empty(256, 128):requires_grad()
  init.kaiming_uniform_(w, {nonlinearity = "relu"})
  local b = math.sqrt(6 / 128)
  T.ok(w:abs():max():item() <= b and w:abs():max():item() > 0.98 * b)
  init.kaiming_normal_(w, {mode = "fan_out", nonlinearity = "relu"})
  T.near(w:std():item(), math.sqrt(2 / 256), 0.02)
  init.kaiming_uniform_(w, math.sqrt(5))
  T.ok(w:abs():max():item() <= 1 / math.sqrt(128))
  init.xavier_uniform_(w)
  local xb = math.sqrt(6 / (256 + 128))
  T.ok(w:abs():max():item() <= xb and w:abs():max():item() > 0.98 * xb)
  init.xavier_normal_(w, 2)
  T.near(w:std():item(), 2 * math.sqrt(2 / 384), 0.02)
  init.trunc_normal_(w, {std = 0.02})
  T.near(w:std():item(), 0.02, 0.05)
  init.trunc_normal_(w, {mean = 1, std = 1, a = 0.5, b = 1.5})
  T.ok(w:min():item() >= 0.5 and w:max():item() <= 1.5)
  init.normal_(w, 3, 0.5)
  T.near(w:mean():item(), 3, 0.01)
  init.uniform_(w, 2, 4)
  T.ok(w:min():item() >= 2 and w:max():item() <= 4)
  init.zeros_(w); T.eq(w:abs():sum():item(), 0)
  init.ones_(w); T.eq(w:sum():item(), 256 * 128)
  init.constant_(w, 0.5); T.eq(w:mean():item(), 0.5)
  T.ok(w.needs_grad and w.is_leaf)
  T.near(init.calculate_gain("relu"), math.sqrt(2))
  T.near(init.calculate_gain("leaky_relu", math.sqrt(5)), math.sqrt(1 / 3))
  T.near(init.calculate_gain("tanh"), 5 / 3)
  T.raises(function() init.kaiming_uniform_(tau.empty(4)) end, "kaiming_uniform_", "at least 2 dimensions")
  T.raises(function() init.kaiming_normal_(w, {mode = "fan_up"}) end, "mode must be 'fan_in' or 'fan_out'")
end)

T.test("Normalize standardises each channel and is saved with the model", function()
  local norm = nn.Normalize({0.5, 0.25}, {0.5, 2})
  local x = tau.ones(1, 2, 2, 2)
  T.close(norm(x), {{{{1, 1}, {1, 1}}, {{0.375, 0.375}, {0.375, 0.375}}}})
  T.close(nn.Normalize(0.5, 0.5)(tau.zeros(2, 3)), {{-1, -1, -1}, {-1, -1, -1}})
  local s = nn.Sequential{nn.Normalize({0.2860}, {0.3530}), nn.Flatten()}
  T.eq(table.concat(s:state_keys(), " "), "1.mean 1.std")
  T.eq(#s:parameters(), 0)
  T.eq(tostring(s[1]), "Normalize(mean={0.286}, std={0.353})")
  T.raises(function() nn.Normalize({0.5}, {0}) end, "tau.nn.Normalize: std must be positive")
  T.raises(function() norm(tau.ones(1, 3, 2, 2)) end, "Normalize: expected (N, 2, ...) input, got size [1, 3, 2, 2]")
  local x1 = tau.rand(1, 2, 3, 3):requires_grad()
  norm(x1):sum():backward()
  T.close(x1.grad[1][2], tau.full(3, 3, 0.5))
end)

T.test("load_state_dict accepts a nested table of the dotted names", function()
  tau.manual_seed(21)
  local a, b = Net(), Net()
  local nested = {}
  for k, v in pairs(a:state_dict()) do
    local t = nested
    local parts = {}
    for part in k:gmatch("[^.]+") do parts[#parts + 1] = math.tointeger(tonumber(part)) or part end
    for i = 1, #parts - 1 do
      t[parts[i]] = t[parts[i]] or {}
      t = t[parts[i]]
    end
    t[parts[#parts]] = v
  end
  b:load_state_dict(nested)
  T.ok(b.head[2].weight:equal(a.head[2].weight))
  nested.head[5].bias = nil
  T.raises(function() b:load_state_dict(nested) end, 'missing keys in state dict: "head.5.bias"')
end)
