-- tau.models: forward shapes on 1x28x28, 3x32x32 and 3x64x64 inputs, backward, parameter
-- counts of the full-size architectures.
local T = ...
local models, nn = tau.models, tau.nn

local function sizes(t) return table.concat(t:size(), "x") end

local inputs = {{1, 28}, {3, 32}, {3, 64}}

-- Forward (training and evaluation) and backward on a batch of 2; returns the logits.
local function check(model, c, s, classes)
  local x = tau.randn(2, c, s, s)
  local y = model(x)
  T.eq(sizes(y), "2x" .. classes)
  y:sum():backward()
  for _, e in ipairs(model:named_parameters()) do
    T.ok(e[2].grad ~= nil, e[1] .. " has a gradient")
  end
  model:zero_grad()
  model:evaluate()
  T.eq(sizes(model(x)), "2x" .. classes)
  model:train()
  return y
end

for _, io in ipairs(inputs) do
  local c, s = io[1], io[2]
  T.test(string.format("cnn on %dx%dx%d", c, s, s), function()
    tau.manual_seed(1)
    check(models.cnn{channels = c, classes = 7, image = s, width = 4, hidden = 16}, c, s, 7)
  end)
end

T.test("cnn built for one size runs on others (adaptive pooling)", function()
  tau.manual_seed(2)
  local m = models.cnn{channels = 3, image = 32, width = 4, hidden = 8}
  T.eq(sizes(m(tau.randn(1, 3, 64, 64))), "1x10")
  T.eq(sizes(m(tau.randn(1, 3, 20, 20))), "1x10")
end)

T.test("cnn default architecture and size", function()
  local m = models.cnn{}
  T.eq(m:num_parameters(), 288 + 64 + 18432 + 128 + 3136 * 128 + 128 + 1290)
  T.eq(m.features[1].__name, "Conv2d")
  T.eq(m.features[2].__name, "BatchNorm2d")
  T.eq(m.features[4].__name, "MaxPool2d")
end)

for _, depth in ipairs({18, 34, 50, 20, 32, 56}) do
  T.test("resnet" .. depth .. " on 1x28x28, 3x32x32, 3x64x64", function()
    tau.manual_seed(depth)
    for _, io in ipairs(inputs) do
      local c, s = io[1], io[2]
      -- tiny: 2 or 4 channels in the first stage
      local width = ({[18] = 4, [34] = 2, [50] = 2, [20] = 16, [32] = 16, [56] = 8})[depth]
      check(models.resnet{depth = depth, width = width, classes = 5, channels = c}, c, s, 5)
    end
  end)
end

T.test("resnet block layout", function()
  local r18 = models.resnet{depth = 18, width = 2}
  T.eq(#r18.layer1 .. #r18.layer2 .. #r18.layer3 .. #r18.layer4, "2222")
  T.eq(r18.conv1.kernel_size[1], 3)
  T.eq(r18.conv1.stride[1], 1)
  T.eq(r18.layer1[1].downsample, nil)
  T.ok(r18.layer2[1].downsample ~= nil)
  T.eq(r18.fc.in_features, 16)
  local r34 = models.resnet{depth = 34, width = 2}
  T.eq(#r34.layer1 .. #r34.layer2 .. #r34.layer3 .. #r34.layer4, "3463")
  local r50 = models.resnet{depth = 50, width = 2}
  T.eq(r50.layer1[1].__name, "Bottleneck")
  T.eq(r50.fc.in_features, 2 * 8 * 4)
  local r56 = models.resnet{depth = 56}
  T.eq(r56.layer4, nil)
  T.eq(#r56.layer1 .. "," .. #r56.layer3, "9,9")
  T.eq(r56.layer3[1].conv1.out_channels, 64)
  T.eq(models.resnet{depth = 20}.layer1[1].conv1.out_channels, 16)
  T.eq(models.resnet{depth = 20, width = 32}.fc.in_features, 32)
  T.eq(models.resnet{depth = 20, width = 128}.fc.in_features, 128)
  T.raises(function() models.resnet{width = 0} end, "width must be a positive integer")
  T.raises(function() models.resnet{depth = 19} end, "tau.models.resnet: unsupported depth 19")
end)

T.test("resnet full-size parameter counts", function()
  -- the CIFAR ResNet-18 (3x3 stem, projection shortcuts, 10 classes)
  T.eq(models.resnet{depth = 18}:num_parameters(), 11173962)
  -- ResNet-20 with projection shortcuts: 269,722 of the paper plus two 1x1 convolutions and
  -- their batch norms
  T.eq(models.resnet{depth = 20}:num_parameters(), 269722 + 16 * 32 + 64 + 32 * 64 + 128)
end)

T.test("resnet state_dict round trip in evaluation mode", function()
  tau.manual_seed(3)
  local a = models.resnet{depth = 20, width = 16}
  a(tau.randn(4, 3, 32, 32))
  a:evaluate()
  local b = models.resnet{depth = 20, width = 16}
  b:evaluate()
  b:load_state_dict(a:state_dict())
  local x = tau.randn(2, 3, 32, 32)
  T.ok(a(x):equal(b(x)))
  local n = 0
  for _ in pairs(a:state_dict()) do n = n + 1 end
  T.eq(n, #a:parameters() + #a:buffers())
end)

local vit_cfg = {[28] = 7, [32] = 4, [64] = 8}
for _, io in ipairs(inputs) do
  local c, s = io[1], io[2]
  T.test(string.format("vit on %dx%dx%d", c, s, s), function()
    tau.manual_seed(4)
    check(models.vit{patch = vit_cfg[s], dim = 12, depth = 2, heads = 3, classes = 6, image = s, channels = c},
          c, s, 6)
  end)
end

T.test("vit structure, default size and checks", function()
  tau.manual_seed(5)
  local v = models.vit{}
  -- patch embedding, class token, positions, 6 blocks, final norm, head
  T.eq(v:num_parameters(), 3 * 16 * 192 + 192 + 192 + 65 * 192 + 6 * 297024 + 384 + 1930)
  T.eq(sizes(v.pos_embed), "1x65x192")
  T.eq(#v.blocks, 6)
  T.eq(v.blocks[1].mlp[1].out_features, 384)
  T.eq(models.vit{dim = 16, heads = 2, depth = 1, mlp = 40}.blocks[1].mlp[1].out_features, 40)
  T.ok(v.pos_embed:std():item() < 0.03, "small position embeddings")
  T.raises(function() v(tau.randn(1, 3, 28, 28)) end, "ViT: expected images (N, C, 32, 32), got size [1, 3, 28, 28]")
  T.raises(function() models.vit{image = 30, patch = 4} end, "not a multiple of the patch size")
  T.raises(function() models.vit{dim = 10, heads = 3} end, "not divisible by heads")
end)

T.test("vit with dropout differs between training and evaluation", function()
  tau.manual_seed(6)
  local v = models.vit{patch = 8, dim = 8, depth = 1, heads = 2, dropout = 0.5, image = 16}
  local x = tau.randn(2, 3, 16, 16)
  v:evaluate()
  local a, b = v(x), v(x)
  T.ok(a:equal(b), "deterministic in evaluation")
  v:train()
  T.ok(not v(x):equal(a), "dropout in training")
end)

for _, io in ipairs(inputs) do
  local c, s = io[1], io[2]
  T.test(string.format("mlp on %dx%dx%d", c, s, s), function()
    tau.manual_seed(7)
    check(models.mlp{inputs = c * s * s, hidden = {16, 8}, classes = 4}, c, s, 4)
  end)
end

T.test("mlp options", function()
  local m = models.mlp{channels = 1, image = 28, hidden = 32, activation = "gelu", dropout = 0.1}
  T.eq(m[2].in_features, 784)
  T.eq(m[3].__name, "GELU")
  T.eq(m[4].__name, "Dropout")
  T.eq(#models.mlp{inputs = 4, classes = 3}, 2)
  T.raises(function() models.mlp{hidden = {4}} end, "give the number of inputs")
  T.raises(function() models.mlp{inputs = 4, activation = "swish"} end, "unknown activation 'swish'")
end)

T.test("models.build by name", function()
  T.eq(models.build("resnet20", {width = 8}).depth, 20)
  T.eq(models.build("resnet", {depth = 32, width = 8}).depth, 32)
  T.eq(models.build("cnn", {width = 2}).__name, "CNN")
  T.raises(function() models.build("alexnet") end, "tau.models.build: unknown model 'alexnet'")
end)
